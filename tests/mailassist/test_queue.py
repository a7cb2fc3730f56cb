"""mailassist.queue: the sweeper, and batched sends over Redis, around the ``link_inbound`` actor on a real dramatiq
worker (in-process broker, and real Redis)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import update

from linker.tasks import Processor, QueueSettings, build_actor, empty_plan
from mailassist.queue import Sweeper, pipelined_sends, send_all
from store import Store
from store.models import Inbound, utcnow
from tests.linker.test_tasks import FAST, add, wait_for


def _age(store: Store, inbound_ids: list[str], seconds: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(Inbound).where(Inbound.id.in_(inbound_ids)).values(updated_at=utcnow() - timedelta(seconds=seconds))
        )


def test_sweeper_resends_only_stale_queued_rows(store: Store) -> None:
    old = add(store, 3)
    fresh = add(store, 1)
    done = add(store, 1)
    store.receipts.mark_processed(done[0], "linked")
    _age(store, old + done, 3600)
    sent: list[str] = []
    sweeper = Sweeper(store, sent.append, FAST)
    assert sweeper.sweep() == 3
    assert sent == old
    # Re-sent rows get a fresh clock, so the next pass leaves them alone
    assert sweeper.sweep() == 0
    # At start in embedded mode nothing else holds queued work: grace 0 re-sends everything queued
    sent.clear()
    assert sweeper.sweep(grace=0) == 4
    assert set(sent) == set(old + fresh)


def test_sweeper_survives_a_broker_outage(sqlite_store: Store) -> None:
    ids = add(sqlite_store, 2)
    _age(sqlite_store, ids, 3600)

    def down(_inbound_id: str) -> None:
        raise ConnectionError("Connection refused")

    assert Sweeper(sqlite_store, down, FAST).sweep() == 0
    # Nothing was touched, so the next pass (broker back) picks them up
    sent: list[str] = []
    assert Sweeper(sqlite_store, sent.append, FAST).sweep() == 2


def test_sweeper_thread_recovers_a_lost_queue_message(sqlite_store: Store, worker_for: Callable) -> None:
    # Given a receipt whose queue message was lost (never sent)
    (inbound_id,) = add(sqlite_store)
    broker = StubBroker()
    actor = build_actor(broker, Processor(sqlite_store, FAST, empty_plan))
    worker_for(broker)
    sweeper = Sweeper(sqlite_store, actor.send, QueueSettings(sweep_interval=0.05, sweep_grace=0.2))
    sweeper.start()
    try:
        wait_for(lambda: (r := sqlite_store.receipts.get_inbound(inbound_id)) is not None and r.status == "linked")
    finally:
        sweeper.stop()


def test_redis_round_trip(sqlite_store: Store, redis_available: None, worker_for: Callable) -> None:
    from dramatiq.brokers.redis import RedisBroker

    # A private namespace keeps parallel runs apart on the shared Redis service
    broker = RedisBroker(url="redis://127.0.0.1:6379/0", namespace=f"mailassist-test-{secrets.token_hex(4)}")
    try:
        actor = build_actor(broker, Processor(sqlite_store, FAST, empty_plan))
        worker_for(broker)
        ids = add(sqlite_store, 5)
        for inbound_id in ids:
            actor.send(inbound_id)
        wait_for(lambda: sqlite_store.receipts.count_inbound_by_status()["linked"] == 5)
    finally:
        broker.flush_all()
        broker.close()


def test_redis_sends_of_a_batch_go_in_one_round_trip(
    sqlite_store: Store, redis_available: None, worker_for: Callable
) -> None:
    from dramatiq.brokers.redis import RedisBroker

    broker = pipelined_sends(
        RedisBroker(url="redis://127.0.0.1:6379/0", namespace=f"mailassist-test-{secrets.token_hex(4)}")
    )
    # Record how many commands each pipeline carries when it goes out
    dispatch = broker.scripts["dispatch"]
    real_pipeline = dispatch.client.pipeline
    carried: list[int] = []

    def pipeline(**kwargs: Any) -> Any:
        pipe = real_pipeline(**kwargs)
        execute = pipe.execute

        def counted(*args: Any, **kw: Any) -> Any:
            carried.append(len(pipe.command_stack))
            assert not pipe.scripts  # else the pipeline first asks Redis SCRIPT EXISTS: another round trip
            return execute(*args, **kw)

        pipe.execute = counted
        return pipe

    dispatch.client = SimpleNamespace(pipeline=pipeline)
    try:
        actor = build_actor(broker, Processor(sqlite_store, FAST, empty_plan))
        # A running worker fetches and acks through the same script on its own threads, outside the pipeline
        worker_for(broker)
        ids = add(sqlite_store, 5)
        send_all(actor, ids)
        assert carried == [5]
        wait_for(lambda: sqlite_store.receipts.count_inbound_by_status()["linked"] == 5)
        # One id alone is sent straight away
        (one,) = add(sqlite_store)
        send_all(actor, [one])
        assert carried == [5]
        wait_for(lambda: sqlite_store.receipts.count_inbound_by_status()["linked"] == 6)
    finally:
        broker.flush_all()
        broker.close()


def test_redis_batch_sends_survive_redis_forgetting_its_scripts(sqlite_store: Store, redis_available: None) -> None:
    from dramatiq.brokers.redis import RedisBroker

    namespace = f"mailassist-test-{secrets.token_hex(4)}"
    broker = pipelined_sends(RedisBroker(url="redis://127.0.0.1:6379/0", namespace=namespace))
    try:
        actor = build_actor(broker, Processor(sqlite_store, FAST, empty_plan))
        # As after a Redis restart (and before any other call reloaded it): no dispatch script on the server
        broker.client.script_flush()
        ids = add(sqlite_store, 3)
        send_all(actor, ids)
        # Every one is on the queue, once
        queued = broker.client.hvals(f"{namespace}:{actor.queue_name}.msgs")
        assert sorted(dramatiq.Message.decode(m).args[0] for m in queued) == sorted(ids)
    finally:
        broker.flush_all()
        broker.close()
