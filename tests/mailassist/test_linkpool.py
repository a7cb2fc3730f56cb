"""``queue.worker_processes``: ``mailassist serve`` links mail in child processes of its own, and a child that dies
costs a retry, never a message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from mailassist.build import open_store
from mailassist.config import load_config
from mailassist.linkpool import ProcessPool
from mailassist.queue import Queue
from tests.conftest import free_port
from tests.support import (
    USER,
    Child,
    make_message,
    queue_rows,
    running,
    seed_user,
    send_queued,
    session_processes,
    wait_until,
    write_config,
)

pytestmark = [pytest.mark.slow]


def _config(tmp_path: Path, processes: int) -> tuple[Path, int]:
    url = f"sqlite:///{tmp_path / 'mailassist.db'}"
    blob_dir = tmp_path / "blobs"
    seed_user(url, blob_dir, USER)
    port = free_port()
    config = write_config(
        tmp_path / "mailassist.toml",
        {
            "smtp": {"listen": f"127.0.0.1:{port}"},
            "web": {"listen": f"127.0.0.1:{free_port()}"},
            "store": {"url": url, "blob_dir": str(blob_dir)},
            "queue": {"broker": "memory", "worker_processes": processes, "min_backoff": 0.1, "max_backoff": 0.5},
        },
    )
    return config, port


def _linked(config: Path, ids: set[str]) -> bool:
    return {r["id"] for r in queue_rows(config) if r["status"] == "linked"} >= ids


def _events(child: Child, name: str) -> list[dict[str, Any]]:
    return [e for e in child.events() if e.get("event") == name]


def test_serve_links_in_its_linker_processes(tmp_path: Path) -> None:
    config, port = _config(tmp_path, processes=2)
    with running(config, "serve", log_path=tmp_path / "serve.log") as serve:
        # Given serve with two linker processes, started before any mail
        started = {e["pid"] for e in _events(serve, "linker process started")}
        assert len(started) == 2 and serve.pid not in started, serve.log_text()[-3000:]
        # When mail arrives
        ids = {send_queued(port, make_message(n, tag="pool")) for n in range(6)}
        # Then it is linked, by those processes
        assert wait_until(lambda: _linked(config, ids), timeout=30), serve.log_text()[-3000:]
        by = {e["inbound_id"]: e.get("pid") for e in _events(serve, "inbound linked")}
        assert set(by) == ids and set(by.values()) <= started, by
        assert serve.stop(timeout=40) == 0, serve.log_text()[-3000:]
        # And they end with serve's own stop (checked before the teardown kills whatever is left of its session)
        assert not set(session_processes(serve.pid)) & started, session_processes(serve.pid)


def test_a_dead_linker_process_costs_a_retry_not_the_message(tmp_path: Path) -> None:
    config, port = _config(tmp_path, processes=1)
    with running(config, "serve", log_path=tmp_path / "serve.log") as serve:
        (first,) = [e["pid"] for e in _events(serve, "linker process started")]
        # Given the only linker process was killed (out of memory, an operator)
        os.kill(first, signal.SIGKILL)
        # When mail arrives
        inbound_id = send_queued(port, make_message(1, tag="dead-child"))
        # Then a new process links it after a retry
        assert wait_until(lambda: _linked(config, {inbound_id}), timeout=30), serve.log_text()[-3000:]
        assert _events(serve, "linker process died; will retry"), serve.log_text()[-3000:]
        (linked,) = [e for e in _events(serve, "inbound linked") if e["inbound_id"] == inbound_id]
        assert linked["pid"] != first
        assert serve.stop(timeout=40) == 0, serve.log_text()[-3000:]


def test_nothing_of_serve_outlives_a_sigkill(tmp_path: Path) -> None:
    config, port = _config(tmp_path, processes=2)
    with running(config, "serve", log_path=tmp_path / "serve.log") as serve:
        # Given serve with its linker processes, the fork server that made them, its storage and helpers
        inbound_id = send_queued(port, make_message(1, tag="sigkill"))
        assert wait_until(lambda: _linked(config, {inbound_id}), timeout=30), serve.log_text()[-3000:]
        linkers = {e["pid"] for e in _events(serve, "linker process started")}
        assert len(linkers) == 2 and set(session_processes(serve.pid)) > linkers | {serve.pid}
        # When serve is killed (out of memory, kill -9), so none of its shutdown code runs
        serve.kill()
        # Then everything it started ends too: none holds a database connection or its log open
        assert wait_until(lambda: not session_processes(serve.pid), timeout=15), session_processes(serve.pid)


def test_without_worker_processes_serve_links_in_its_own_process(tmp_path: Path) -> None:
    config, port = _config(tmp_path, processes=0)
    with running(config, "serve", log_path=tmp_path / "serve.log") as serve:
        inbound_id = send_queued(port, make_message(1, tag="threads"))
        assert wait_until(lambda: _linked(config, {inbound_id}), timeout=30), serve.log_text()[-3000:]
        assert not _events(serve, "linker process started")
        (linked,) = _events(serve, "inbound linked")
        assert "pid" not in linked
        assert serve.stop(timeout=40) == 0


@pytest.mark.parametrize(("threads", "processes", "expected"), [(2, 0, 2), (2, 3, 6), (8, 2, 8)])
def test_worker_threads_are_at_least_two_per_linker_process(
    tmp_path: Path, threads: int, processes: int, expected: int
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n\n'
        f"[queue]\nworker_threads = {threads}\nworker_processes = {processes}\n"
    )
    config = load_config(path)
    store = open_store(config)
    try:
        queue = Queue(config, store)
        # A child finishing a message finds the next one waiting (a thread per child would leave it idle meanwhile)
        assert queue.threads == expected
        assert (queue.pool is not None) == (processes > 0)
    finally:
        store.close()


def test_stop_kills_a_linker_process_stuck_past_the_timeout(tmp_path: Path) -> None:
    config, _port = _config(tmp_path, processes=1)
    pool = ProcessPool(load_config(config), 1)
    pool.start()
    (pid,) = pool.pids
    assert pid is not None
    # Given a child that does not answer for longer than the stop may wait (stopped, as if on a hung database)
    os.kill(pid, signal.SIGSTOP)
    # When the pool stops with a 1 s timeout
    started = time.monotonic()
    pool.stop(timeout=1)
    # Then the stop takes about that long, and the child is gone
    assert time.monotonic() - started < 10
    assert wait_until(lambda: pid not in session_processes(os.getsid(0)), timeout=10)


def test_children_killed_under_the_pool_cost_a_retry_each_and_are_replaced(tmp_path: Path) -> None:
    config, _port = _config(tmp_path, processes=2)
    pool = ProcessPool(load_config(config), 2)
    pool.start()
    try:
        first = set(pool.pids)
        # Given both children killed while the pool is in use (a receipt that is not there is answered at once)
        threading.Timer(0.3, lambda: [os.kill(pid, signal.SIGKILL) for pid in first if pid is not None]).start()
        retries = 0
        deadline = time.monotonic() + 30
        while retries == 0 and time.monotonic() < deadline:
            try:
                pool.process("NO-SUCH-RECEIPT")
            except dramatiq.Retry:
                retries += 1
        # When the pool is used again
        answered = False
        while not answered and time.monotonic() < deadline:
            try:
                pool.process("NO-SUCH-RECEIPT")
                answered = True
            except dramatiq.Retry:
                retries += 1
        # Then each dead child cost one retry, and two new children answer
        assert answered and 1 <= retries <= 2, retries
        assert len(pool.pids) == 2 and not set(pool.pids) & first, (pool.pids, first)
    finally:
        pool.stop(timeout=5)


def test_a_linker_process_that_cannot_open_its_store_fails_start_in_one_line(tmp_path: Path) -> None:
    # Given a store the children cannot reach (nothing listens on that port)
    path = write_config(
        tmp_path / "mailassist.toml",
        {
            "store": {"url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none", "blob_dir": "blobs"},
            "queue": {"broker": "memory", "worker_processes": 2},
        },
    )
    # When a pool starts, in a process of its own (so its fork server writes to that process's stderr)
    script = (
        "import sys\n"
        "from mailassist.config import load_config\n"
        "from mailassist.linkpool import LinkerStartError, ProcessPool\n"
        "pool = ProcessPool(load_config(sys.argv[1]), 2)\n"
        "try:\n"
        "    pool.start()\n"
        "except LinkerStartError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    # Then start() fails with one line, and the children said why, one line each, with no traceback
    assert (done.returncode, done.stdout.strip()) == (1, "a linker process could not start (its log line says why)")
    assert "linker process cannot start" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
