"""Linking in processes of their own (``queue.worker_processes``): one worker process, several cores.

A worker thread links one message at a time, and in one Python process all its threads share one core (the GIL):
parsing, planning and the SQL of filing a message are nearly all Python. With ``worker_processes = N`` each worker
thread hands its message to one of N child processes and waits for it, so the linking runs on N cores while the
queue, the SMTP gateway and the web viewer stay in the process they were in (``serve`` still runs as one command
with its in-process queue).

The children start from a fork server (``multiprocessing``'s ``forkserver``): a clean single-threaded process
started before any of ours exist, so a child never inherits a lock some thread of this process held at fork time,
and a child that died can be replaced at any moment. Each child opens its own store and runs the same
``Processor.process`` as a thread would: the receipt row is the truth, and a message whose child died stays
``queued``; its queue message is retried with dramatiq's backoff and, failing that, the sweeper re-sends it.

A child ends with the process that uses it, however that one ended: ``multiprocessing`` alone would keep an
executor's children (and so the fork server, which they keep alive) running for ever after a SIGKILL or an out of
memory kill of the worker, each with its database connections and the worker's stdout and stderr open.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.synchronize import Barrier

import dramatiq
import structlog

from linker.parse import parse_message
from linker.tasks import Processor
from mailassist.config import Config

log = structlog.get_logger("mailassist")

#: Imported once by the fork server, so each child starts with them loaded.
PRELOAD = ["mailassist.runtime"]

_processor: Processor | None = None
#: Set in each child: every child of a pool being started waits here, so ``start`` returns once all are ready.
_started: Barrier | None = None

#: How long ``start`` waits for every child to open its store and parse its warm-up message.
START_TIMEOUT = 120.0
#: What a child exits with when the process that used it is gone (it was mid-message or idle: the receipt is the
#: truth, and its transaction, if any, is rolled back).
ORPHANED = 75

#: What a child exits with when it cannot start (its store will not open…); it says why on its log first.
START_FAILED = 78

#: Parsed once by each child as it starts.
WARM_UP = b"From: Anna <anna@example.com>\r\nTo: piotr@example.com\r\nSubject: warm-up\r\n\r\nwarm-up\r\n"


class LinkerStartError(Exception):
    """The linker processes did not start (one could not open its store, or they took too long)."""


def _start_child(config: Config, started: Barrier) -> None:
    """First thing in a child: its own logging, store and processor."""
    global _processor, _started  # noqa: PLW0603 - one processor per child process, made once
    # Ctrl-C reaches the whole process group: the parent stops the pool, a child must not die with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    _started = started
    from mailassist.logs import configure_logging  # noqa: PLC0415 - imported by the fork server already
    from mailassist.runtime import make_processor, open_store  # noqa: PLC0415 - (avoids an import cycle)

    configure_logging(config.logging.level, config.logging.format)
    # On every line of this child: which process linked a message, when several do.
    structlog.contextvars.bind_contextvars(pid=os.getpid())
    try:
        _processor = make_processor(config, open_store(config, upgrade=False))
    except Exception as exc:
        # One line, not the executor's "Exception in initializer" traceback; the parent's start() then fails.
        log.error("linker process cannot start", error=f"{type(exc).__name__}: {exc}")
        os._exit(START_FAILED)
    # flanker loads (and builds its address grammar) on first use: here, not while the first message waits.
    parse_message(WARM_UP)
    log.info("linker process started")


def _exit_with_parent() -> None:
    """Exit as soon as the process that asked for this child is gone. Its sentinel (a pipe whose other end only
    that process holds) turns readable when it exits, however it exited."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(ORPHANED)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _process(inbound_id: str) -> None:
    assert _processor is not None, "child not started"
    _processor.process(inbound_id)


def _ready(timeout: float) -> int:
    """Run once per child by ``start``: each call holds its child until every child of the pool holds one."""
    assert _started is not None, "child not started"
    _started.wait(timeout)
    return os.getpid()


class ProcessPool:
    """``process(inbound_id)`` runs ``Processor.process`` in one of ``processes`` children and returns (or raises)
    what it did; exceptions come back pickled, ``dramatiq.Retry`` included."""

    def __init__(self, config: Config, processes: int) -> None:
        self.config = config
        self.processes = processes
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the fork server and every child now, so the first messages do not wait for them. Returns once
        every child has opened its store and parsed its warm-up message."""
        pool = self._current()
        # A child runs one call at a time, and each of these waits for all the others: so each runs in a child of
        # its own, after that child's start (the executor runs a child's initializer before its first call).
        calls = [pool.submit(_ready, START_TIMEOUT) for _ in range(self.processes)]
        try:
            pids = {call.result() for call in calls}
        except BrokenProcessPool:
            self._replace(pool)
            raise LinkerStartError("a linker process could not start (its log line says why)") from None
        except threading.BrokenBarrierError:
            self._replace(pool)
            raise LinkerStartError(
                f"the {self.processes} linker processes did not all start within {START_TIMEOUT:.0f} s"
            ) from None
        assert len(pids) == self.processes, pids

    def process(self, inbound_id: str) -> None:
        pool = self._current()
        try:
            pool.submit(_process, inbound_id).result()
        except BrokenProcessPool as exc:
            # A child died (killed, out of memory) with this message or another: the receipt is still queued.
            self._replace(pool)
            log.error("linker process died; will retry", error=str(exc))
            raise dramatiq.Retry("linker process died") from None

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # The barrier goes to the children as they are made (the only way to share one with them).
                started = self._context.Barrier(self.processes)
                self._pool = ProcessPoolExecutor(
                    self.processes,
                    mp_context=self._context,
                    initializer=_start_child,
                    initargs=(self.config, started),
                )
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:  # the first thread to notice replaces it; the others find the new one
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def stop(self, timeout: float) -> None:
        """Let the children finish what they hold for up to ``timeout`` seconds, then kill the ones still at it
        (their messages stay ``queued``: the sweeper re-sends them)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        # The executor keeps its processes to itself; without them, a child stuck on a hung database would hold
        # up the stop for ever.
        children = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.warning("linker process still busy after the stop timeout; killing it", pid=child.pid)
                child.kill()
                child.join(5)
