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

Each child has one pipe: a worker thread sends it a receipt id and reads the answer itself (``None``, or the
exception ``process`` raised). Answers come back in the order the ids went out, so with two threads per child the
next id is waiting when the child finishes one. No executor: its manager and feeder threads cost the worker
process about 0.35 ms of CPU per message, handing each id and result over twice (``bench/RESULTS.md``).

A child ends with the process that uses it, however that one ended: ``multiprocessing`` alone would keep the
children (and so the fork server, which they keep alive) running for ever after a SIGKILL or an out of memory kill
of the worker, each with its database connections and the worker's stdout and stderr open.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import dramatiq
import structlog

from linker.parse import parse_message
from linker.tasks import Processor
from mailassist.config import Config

log = structlog.get_logger("mailassist")

#: Imported once by the fork server, so each child starts with them loaded.
PRELOAD = ["mailassist.runtime"]

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


# --- in the child -----------------------------------------------------------------------------------------------


def _child_main(config: Config, conn: Connection) -> None:
    """A linker process: start, say so (its pid), then link each receipt id it is sent, answering each, until it is
    sent ``None`` or its pipe closes."""
    processor = _start_child(config)
    conn.send(os.getpid())
    while True:
        try:
            inbound_id = conn.recv()
        except EOFError:
            return
        if inbound_id is None:
            return
        try:
            processor.process(inbound_id)
            answer: BaseException | None = None
        except BaseException as exc:  # the caller's to raise: dramatiq.Retry above all
            answer = exc
        try:
            conn.send(answer)
        except Exception:  # an exception that does not pickle: its text instead (send pickles before it writes)
            conn.send(RuntimeError(f"{type(answer).__name__}: {answer}"))


def _start_child(config: Config) -> Processor:
    """First thing in a child: its own logging, store and processor."""
    # Ctrl-C reaches the whole process group: the parent stops the pool, a child must not die with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    from mailassist.logs import configure_logging  # noqa: PLC0415 - imported by the fork server already
    from mailassist.runtime import make_processor, open_store  # noqa: PLC0415 - (avoids an import cycle)

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
    log.info("linker process started")
    return processor


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


# --- in the worker ----------------------------------------------------------------------------------------------


class _ChildGone(Exception):
    """The child died, or its answers can no longer be matched to the calls: it must be replaced."""


class _Child:
    """One linker process and its pipe. Calls go out in order and are answered in order: the thread whose call was
    sent n-th reads the n-th answer."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        #: Calls sent and not yet answered (``ProcessPool._lock`` guards it): the pool sends to the least busy.
        self.busy = 0
        self.gone = False
        self._sending = threading.Lock()
        self._turn = threading.Condition()
        self._sent = 0
        self._answered = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def call(self, inbound_id: str) -> object:
        """Send ``inbound_id``, wait for its answer; ``_ChildGone`` if the child died meanwhile."""
        with self._sending:
            if self.gone:
                raise _ChildGone
            try:
                self.conn.send(inbound_id)
            except OSError:
                self.gone = True
                raise _ChildGone from None
            ticket = self._sent
            self._sent += 1
        with self._turn:
            try:
                while self._answered != ticket and not self.gone:
                    self._turn.wait()
                if self.gone:
                    raise _ChildGone
                answer = self.conn.recv()
            except BaseException:
                # It died (EOF), or this thread was interrupted before it read its answer (dramatiq's time limit):
                # either way the answers in the pipe can no longer be matched to their calls.
                self.gone = True
                self._turn.notify_all()
                raise
            self._answered += 1
            self._turn.notify_all()
        return answer

    def ask_to_stop(self) -> None:
        """Tell the child to exit once it has answered the calls already sent."""
        with self._sending:
            if not self.gone:
                try:
                    self.conn.send(None)
                except OSError:
                    self.gone = True

    def end(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the child to exit, then kill it; close the pipe."""
        self.process.join(max(0.0, timeout))
        if self.process.is_alive():
            log.warning("linker process still busy after the stop timeout; killing it", pid=self.pid)
        self.kill()

    def kill(self) -> None:
        """Kill the child (if it still runs) and close the pipe."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        with self._sending, self._turn:  # no thread writes or reads it any more
            self.gone = True
            self._turn.notify_all()
            self.conn.close()


class ProcessPool:
    """``process(inbound_id)`` runs ``Processor.process`` in one of ``processes`` children and returns (or raises)
    what it did; exceptions come back pickled, ``dramatiq.Retry`` included."""

    def __init__(self, config: Config, processes: int) -> None:
        self.config = config
        self.processes = processes
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._lock = threading.Lock()
        self._children: list[_Child] = []
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
                child.kill()
            raise
        with self._lock:
            self._children = children

    def process(self, inbound_id: str) -> None:
        if len(self._children) < self.processes:
            self._refill()
        child = self._pick()
        try:
            answer = child.call(inbound_id)
        except (_ChildGone, EOFError, OSError):
            # The child died (killed, out of memory) with this message or another: the receipt is still queued.
            log.error("linker process died; will retry", pid=child.pid)
            self._replace(child)
            raise dramatiq.Retry("linker process died") from None
        except BaseException:
            self._replace(child)
            raise
        finally:
            with self._lock:
                child.busy -= 1
        if isinstance(answer, BaseException):
            raise answer

    def stop(self, timeout: float) -> None:
        """Let the children finish what they hold for up to ``timeout`` seconds, then kill the ones still at it
        (their messages stay ``queued``: the sweeper re-sends them)."""
        with self._lock:
            self._stopped = True
            children, self._children = self._children, []
        for child in children:
            child.ask_to_stop()
        deadline = time.monotonic() + timeout
        for child in children:
            child.end(deadline - time.monotonic())

    def _spawn(self) -> _Child:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_child_main, args=(self.config, theirs), name="linker", daemon=True)
        process.start()
        theirs.close()
        return _Child(process, ours)

    @staticmethod
    def _await_ready(child: _Child, deadline: float) -> None:
        """Wait for the child's first word (its pid), which it sends once started."""
        if not child.conn.poll(max(0.0, deadline - time.monotonic())):
            raise LinkerStartError(f"a linker process did not start within {START_TIMEOUT:.0f} s")
        try:
            child.conn.recv()
        except (EOFError, OSError):
            raise LinkerStartError("a linker process could not start (its log line says why)") from None

    def _pick(self) -> _Child:
        with self._lock:
            if not self._children:
                raise dramatiq.Retry("no linker process is running")
            child = min(self._children, key=lambda c: c.busy)
            child.busy += 1
            return child

    def _replace(self, gone: _Child) -> None:
        with self._lock:
            if gone not in self._children:  # another thread replaced it already
                return
            self._children.remove(gone)
        gone.kill()
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
                    fresh.kill()
                    log.error("linker process cannot start; will try again with the next message", error=str(exc))
                    return
                with self._lock:
                    if not self._stopped:
                        self._children.append(fresh)
                        continue
                fresh.ask_to_stop()
                fresh.end(5)
                return
        finally:
            self._refilling.release()
