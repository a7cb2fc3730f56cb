"""linker.budget: a message that uses more than ``[linker] cpu_limit`` of CPU ends ``failed``, once, with the reason."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

from linker import budget
from linker.budget import CpuLimitExceeded, cpu_budget
from linker.directory import MemoryDirectory, User
from linker.pipeline import Envelope, run_pipeline
from linker.settings import DEFAULT_CPU_LIMIT, LinkerSettings
from linker.tasks import Processor, linker_pipeline
from store import Store
from tests.linker.test_tasks import FAST

#: A BCC with 2,000 small parts: linear work, well past a budget of a millisecond.
PARTS = 2_000
MANY_PARTS = (
    b"From: Anna Nowak <anna.nowak@example.com>\r\nTo: Jan Kowalski <jan@acme.test>\r\nSubject: Oferta\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n'
    + b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(PARTS))
    + b"--p--\r\n"
)
DIRECTORY = MemoryDirectory(users={"anna.nowak@example.com": User(1, "anna.nowak@example.com", "Anna Nowak")})
ENVELOPE = Envelope("anna.nowak@example.com", ("assistant@crm.example.com",))


def settings(cpu_limit: float | None) -> LinkerSettings:
    return LinkerSettings.build(
        assistant_addresses=["assistant@crm.example.com"], organization_domains=["example.com"], cpu_limit=cpu_limit
    )


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The cyclic collector off while CPU times are compared: late in a full run its pass over the suite's heap
    (a third of a second once) lands on whichever run it likes."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_collector")
def test_the_pipeline_stops_when_its_budget_is_spent() -> None:
    # Unlimited, the message links (and, run first, takes every one-time cost: imports, caches)
    start = time.thread_time()
    plan = run_pipeline(MANY_PARTS, envelope=ENVELOPE, settings=settings(None), directory=DIRECTORY)
    whole = time.thread_time() - start
    assert plan.decision == "accept"

    start = time.thread_time()
    with pytest.raises(CpuLimitExceeded, match=r"more than its CPU limit of 0\.001 s"):
        run_pipeline(MANY_PARTS, envelope=ENVELOPE, settings=settings(0.001), directory=DIRECTORY)
    stopped = time.thread_time() - start

    assert stopped < whole  # it stopped on the way, not at the end


def test_the_default_limit_leaves_ordinary_mail_alone() -> None:
    assert settings(DEFAULT_CPU_LIMIT).cpu_limit == DEFAULT_CPU_LIMIT == LinkerSettings().cpu_limit
    plan = run_pipeline(MANY_PARTS, envelope=ENVELOPE, settings=settings(DEFAULT_CPU_LIMIT), directory=DIRECTORY)
    assert plan.decision == "accept"


def test_a_budget_ends_with_its_block_and_check_is_free_outside_one() -> None:
    with cpu_budget(0.0):
        time.sleep(0)  # thread CPU moves on with any work at all
        sum(range(10_000))
        with pytest.raises(CpuLimitExceeded):
            budget.check()
        with cpu_budget(None):  # an inner budget replaces the outer one
            budget.check()
    budget.check()  # none runs


def test_a_message_over_its_budget_fails_once_with_the_reason(sqlite_store: Store) -> None:
    inbound = sqlite_store.receipts.add_inbound(
        MANY_PARTS, mail_from="anna.nowak@example.com", rcpt_tos=ENVELOPE.rcpt_tos
    )
    processor = Processor(sqlite_store, FAST, linker_pipeline(settings(0.001), DIRECTORY))

    processor.process(inbound.id)  # no dramatiq.Retry: the message is at fault, not the worker

    row = sqlite_store.receipts.get_inbound(inbound.id)
    assert row is not None
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "CpuLimitExceeded: linking used more than its CPU limit of 0.001 s"
