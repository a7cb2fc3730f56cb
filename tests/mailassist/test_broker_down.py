"""Broker down: with Redis gone, ``mailassist smtp`` still answers 250 and the mail waits in the database; when
Redis is back, the sweeper re-sends it and ``mailassist worker`` links each receipt once (invariants 1 and 3)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Store
from tests.conftest import free_port, port_open
from tests.support import USER, Child, linked_counts, make_message, running, seed_user, send_queued, write_config

pytestmark = [pytest.mark.slow, pytest.mark.redis]

#: How long mail may take to be linked once Redis is back (sweep interval 1 s, grace 2 s, consumer restart 3 s).
LINK_TIMEOUT = 30.0


class RedisProcess:
    """A throwaway ``redis-server`` without persistence: killing it loses every queued message."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(exist_ok=True)

    def start(self) -> None:
        with (self.workdir / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--daemonize", "no",
                    "--dir", str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert self.proc.poll() is None, (self.workdir / "redis.log").read_text()
            assert time.monotonic() < deadline, "redis-server did not start listening"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@contextlib.contextmanager
def redis_on(binary: str, port: int, workdir: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(binary, port, workdir)
    try:
        yield redis
    finally:
        redis.kill()


def _setup(tmp_path: Path) -> tuple[Path, str, Path, int, int]:
    url = f"sqlite:///{tmp_path / 'mailassist.db'}"
    blob_dir = tmp_path / "blobs"
    seed_user(url, blob_dir, USER)
    smtp_port, redis_port = free_port(), free_port()
    config = write_config(
        tmp_path / "mailassist.toml",
        {
            "smtp": {"listen": f"127.0.0.1:{smtp_port}"},
            "store": {"url": url, "blob_dir": str(blob_dir)},
            "queue": {
                "broker": f"redis://127.0.0.1:{redis_port}/0",
                "sweep_interval": 1,
                "sweep_grace": 2,
                "min_backoff": 0.5,
                "max_backoff": 1,
            },
        },
    )
    return config, url, blob_dir, smtp_port, redis_port


def _statuses(url: str, blob_dir: Path) -> dict[str, str]:
    store = Store(url, blob_dir)
    try:
        return {r.id: r.status for r in store.receipts.list_inbound(limit=10_000)}
    finally:
        store.close()


def _wait_linked(url: str, blob_dir: Path, ids: set[str]) -> dict[str, str]:
    deadline = time.monotonic() + LINK_TIMEOUT
    while True:
        statuses = _statuses(url, blob_dir)
        if all(statuses.get(i) == "linked" for i in ids) or time.monotonic() > deadline:
            return {i: statuses.get(i, "missing") for i in ids}
        time.sleep(0.2)


def _assert_clean_stop(*children: Child) -> None:
    for child in children:
        code = child.stop(timeout=40)
        assert code == 0, f"exit code {code} after SIGTERM:\n{child.log_text()[-3000:]}"


def test_mail_waits_in_the_database_until_redis_starts(tmp_path: Path, redis_server_binary: str) -> None:
    # Given smtp and worker processes configured for a Redis that is not running
    config, url, blob_dir, smtp_port, redis_port = _setup(tmp_path)
    assert not port_open("127.0.0.1", redis_port)
    with (
        redis_on(redis_server_binary, redis_port, tmp_path / "redis") as redis,
        running(config, "smtp", log_path=tmp_path / "smtp.log") as smtp,
        running(config, "worker", log_path=tmp_path / "worker.log") as worker,
    ):
        # When mail arrives, every message is accepted: the broker is only a wake-up call
        ids = set()
        for n in range(6):
            started = time.monotonic()
            ids.add(send_queued(smtp_port, make_message(n, tag="nobroker")))
            assert time.monotonic() - started < 5, "a dead broker delayed the 250"

        # Then it stays queued while Redis is down, and neither process gives up
        time.sleep(4)  # several sweeps and a consumer restart
        assert set(_statuses(url, blob_dir).values()) == {"queued"}
        assert smtp.proc.poll() is None, smtp.log_text()[-3000:]
        assert worker.proc.poll() is None, worker.log_text()[-3000:]
        assert any(e.get("event") == "sweeper cannot reach the queue; will try again" for e in worker.events())

        # When Redis starts, every message ends linked, each exactly once
        redis.start()
        statuses = _wait_linked(url, blob_dir, ids)
        assert set(statuses.values()) == {"linked"}, statuses
        assert linked_counts(smtp, worker) == dict.fromkeys(ids, 1)
        _assert_clean_stop(smtp, worker)


def test_redis_killed_mid_stream_loses_no_mail(tmp_path: Path, redis_server_binary: str) -> None:
    # Given smtp, worker and a Redis without persistence, with mail flowing
    config, url, blob_dir, smtp_port, redis_port = _setup(tmp_path)
    with redis_on(redis_server_binary, redis_port, tmp_path / "redis") as redis:
        redis.start()
        with (
            running(config, "smtp", log_path=tmp_path / "smtp.log") as smtp,
            running(config, "worker", log_path=tmp_path / "worker.log") as worker,
        ):
            before = {send_queued(smtp_port, make_message(n, tag="before")) for n in range(5)}
            assert set(_wait_linked(url, blob_dir, before).values()) == {"linked"}

            # When Redis dies with messages still queued in it, and more mail arrives while it is down
            in_flight = {send_queued(smtp_port, make_message(n, tag="inflight")) for n in range(10)}
            redis.kill()
            during = set()
            for n in range(5):
                started = time.monotonic()
                during.add(send_queued(smtp_port, make_message(n, tag="during")))
                assert time.monotonic() - started < 5, "a dead broker delayed the 250"
            time.sleep(2)
            assert worker.proc.poll() is None, worker.log_text()[-3000:]
            assert all(s == "queued" for i, s in _statuses(url, blob_dir).items() if i in during)

            # Then after Redis restarts (empty: whatever it held is gone), everything ends linked exactly once
            redis.start()
            ids = before | in_flight | during
            statuses = _wait_linked(url, blob_dir, ids)
            assert set(statuses.values()) == {"linked"}, statuses
            assert linked_counts(smtp, worker) == dict.fromkeys(ids, 1)
            _assert_clean_stop(smtp, worker)
