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

Each child is a ``gateway.child.Child``: a worker thread sends it a receipt id and reads the answer itself
(``None``, or the exception ``process`` raised), one call at a time; a second thread per child waits for its
turn, so the next id is ready when the child finishes one. No executor: its manager and feeder threads hand each
id and result over twice, CPU the worker process spends on every message (``bench/RESULTS.md``).

A child ends with the process that uses it, however that one ended: ``multiprocessing`` alone would keep the
children (and so the fork server, which they keep alive) running for ever after a SIGKILL or an out of memory kill
of the worker, each with its database connections and the worker's stdout and stderr open.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import dramatiq
import structlog

from gateway.child import Child, ChildGoneError
from linker.parse import parse_message
from mailassist.config import Config

log = structlog.get_logger("mailassist")

#: Imported once by the fork server, so each child starts with them loaded.
PRELOAD = ["mailassist.build", "mailassist.logs"]

#: How long ``start`` waits for every child to open its store and parse its warm-up message.
START_TIMEOUT = 120.0
#: What a child exits with when it cannot start (its store will not open…); it says why on its log first.
START_FAILED = 78

#: Parsed once by each child as it starts.
WARM_UP = b"From: Anna <anna@example.com>\r\nTo: piotr@example.com\r\nSubject: warm-up\r\n\r\nwarm-up\r\n"


class LinkerStartError(Exception):
    """The linker processes did not start (one could not open its store, or they took too long)."""


class _Linker:
    """What a linker process runs (pickled to it): ``Processor.process`` for each receipt id it is sent."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._process: Any = None

    def start(self) -> None:
        """First thing in a child: its own logging, store and processor."""
        # Ctrl-C reaches the whole process group: the parent stops the pool, a child must not die with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from mailassist.build import make_processor, open_store  # noqa: PLC0415 - imported by the fork server
        from mailassist.logs import configure_logging  # noqa: PLC0415 - imported by the fork server already

        config = self.config
        configure_logging(config.logging.level, config.logging.format)
        # On every line of this child: which process linked a message, when several do.
        structlog.contextvars.bind_contextvars(pid=os.getpid())
        try:
            processor = make_processor(config, open_store(config, upgrade=False))
        except Exception as exc:
            # One line, not a traceback; the parent's start() then fails with one line too.
            log.error("linker process cannot start", error=f"{type(exc).__name__}: {exc}")
            os._exit(START_FAILED)
        # flanker loads (and builds its address grammar) on first use: here, not while the first message waits.
        parse_message(WARM_UP)
        self._process = processor.process
        log.info("linker process started")

    def call(self, inbound_id: str) -> None:
        self._process(inbound_id)

    def answered(self) -> None:
        """Nothing to do."""

    def stop(self) -> None:
        """Nothing to do: the store closes with the process."""

    def plain(self, exc: BaseException) -> BaseException:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class ProcessPool:
    """``process(inbound_id)`` runs ``Processor.process`` in one of ``processes`` children and returns (or raises)
    what it did; exceptions come back pickled, ``dramatiq.Retry`` included."""

    def __init__(self, config: Config, processes: int) -> None:
        self.config = config
        self.processes = processes
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._lock = threading.Lock()
        self._children: list[Child] = []
        #: Calls sent or waiting per child (``_lock`` guards it): the pool sends to the least busy.
        self._busy: dict[Child, int] = {}
        self._stopped = False
        #: Held by the one thread that starts children to replace dead ones.
        self._refilling = threading.Lock()

    @property
    def pids(self) -> list[int | None]:
        """The children's process ids."""
        with self._lock:
            return [child.pid for child in self._children]

    def start(self) -> None:
        """Start the fork server and every child now, so the first messages do not wait for them. Returns once
        every child has opened its store and parsed its warm-up message; ``LinkerStartError`` if one cannot."""
        children = [self._spawn() for _ in range(self.processes)]
        deadline = time.monotonic() + START_TIMEOUT
        try:
            for child in children:
                self._await_ready(child, deadline)
        except LinkerStartError:
            for child in children:
                child.end(0)
            raise
        with self._lock:
            self._children = children
            self._busy = dict.fromkeys(children, 0)

    def process(self, inbound_id: str) -> None:
        if len(self._children) < self.processes:
            self._refill()
        child = self._pick()
        try:
            child.call(inbound_id)
        except ChildGoneError:
            # The child died (killed, out of memory) with this message or another: the receipt is still queued.
            log.error("linker process died; will retry", pid=child.pid)
            self._replace(child)
            raise dramatiq.Retry("linker process died") from None
        except BaseException:
            # The exception ``process`` raised is the child's answer, and leaves it in step. Anything else (dramatiq's
            # time limit, raised into this thread between the send and the read) leaves its answers unmatched to
            # their calls: it is replaced.
            if not child.in_step:
                self._replace(child)
            raise
        finally:
            with self._lock:
                if child in self._busy:
                    self._busy[child] -= 1

    def stop(self, timeout: float) -> None:
        """Let the children finish what they hold for up to ``timeout`` seconds, then kill the ones still at it
        (their messages stay ``queued``: the sweeper re-sends them)."""
        with self._lock:
            self._stopped = True
            children, self._children = self._children, []
        for child in children:
            child.hang_up()
        deadline = time.monotonic() + timeout
        for child in children:
            if not child.end(deadline - time.monotonic()):
                log.warning("linker process still busy after the stop timeout; killed it", pid=child.pid)

    def _spawn(self) -> Child:
        return Child.spawn(self._context, _Linker(self.config), name="linker")

    @staticmethod
    def _await_ready(child: Child, deadline: float) -> None:
        """Wait for the child's first word, which it sends once started."""
        try:
            ready = child.wait_ready(deadline - time.monotonic())
        except ChildGoneError:
            raise LinkerStartError("a linker process could not start (its log line says why)") from None
        if not ready:
            raise LinkerStartError(f"a linker process did not start within {START_TIMEOUT:.0f} s")

    def _pick(self) -> Child:
        with self._lock:
            if not self._children:
                raise dramatiq.Retry("no linker process is running")
            child = min(self._children, key=lambda c: self._busy.get(c, 0))
            self._busy[child] = self._busy.get(child, 0) + 1
            return child

    def _replace(self, gone: Child) -> None:
        with self._lock:
            if gone not in self._children:  # another thread replaced it already
                return
            self._children.remove(gone)
            self._busy.pop(gone, None)
        gone.kill()
        gone.close()
        self._refill()

    def _refill(self) -> None:
        """Start children until there are ``processes`` again (one thread at a time; the others carry on)."""
        if not self._refilling.acquire(blocking=False):
            return
        try:
            while True:
                with self._lock:
                    if self._stopped or len(self._children) >= self.processes:
                        return
                fresh = self._spawn()
                try:
                    self._await_ready(fresh, time.monotonic() + START_TIMEOUT)
                except LinkerStartError as exc:
                    fresh.end(0)
                    log.error("linker process cannot start; will try again with the next message", error=str(exc))
                    return
                with self._lock:
                    if not self._stopped:
                        self._children.append(fresh)
                        self._busy[fresh] = 0
                        continue
                fresh.stop(5)
                return
        finally:
            self._refilling.release()
