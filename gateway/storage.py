"""The gateway's storage step in a process of its own (Postfix's smtpd → cleanup split).

Under load the SMTP process's event loop is busy all the time. When storage ran on threads of that process, every
SQLite call, fsync and Redis send on them traded the GIL with the loop, and that contention cost more CPU than
the storage itself (``bench/smtp_intake.py``). Here a forked child runs the group commit (who submitted each
message, the transaction, the queue wake-ups), and the loop only writes each batch to a socket pair and reads
back one outcome per item.

Invariant 1 is unchanged: the child answers a batch only after its transaction committed, and the loop says 250
only after that answer. If the child dies, the batch in flight gets an error (451, the sender retries) and
``run`` raises ``StorageProcessError`` from then on: the gateway goes back to storing on threads. A new child is
not forked from a process that is serving: it would inherit every client connection and the listening socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog

from store import StoreUnavailableError

log = structlog.get_logger("gateway")

T = TypeVar("T")
R = TypeVar("R")

#: Each frame: its length (8 bytes, big-endian), then a pickle. Only this process and its own child hold the two
#: ends of the socket pair, so nothing else can put a pickle there (mail is inside as ``bytes``, never unpickled).
_HEADER = struct.Struct(">Q")
#: A child exits with this when its own code failed (not when the parent hung up).
CRASHED = 70


class StorageProcessError(StoreUnavailableError):
    """The storage process is gone, or its answer could not be read. ``batch_sent``: whether the batch had gone to
    it (then it may have committed some of it, unacknowledged); if not, the batch can be stored elsewhere."""

    def __init__(self, message: str, *, batch_sent: bool) -> None:
        super().__init__(message)
        self.batch_sent = batch_sent


class StorageProcess(Generic[T, R]):
    """Runs ``commit(items)`` in a forked child, one batch at a time. In the child, ``after_fork`` runs first
    (threads, pooled connections and locks from before the fork must be made anew there), ``after_answer`` after
    each answer has been sent (work the answer need not wait for), and ``before_exit`` last, once the parent has
    hung up."""

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Sequence[R | BaseException]],
        *,
        after_fork: Callable[[], None],
        after_answer: Callable[[], None],
        before_exit: Callable[[], None],
    ) -> None:
        self.commit = commit
        self.after_fork = after_fork
        self.after_answer = after_answer
        self.before_exit = before_exit
        self.pid: int | None = None
        #: Set when the child died or could not be understood, or was stopped; ``run`` then always raises.
        self.lost = False
        self.stopped = False
        self._sock: socket.socket | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def start(self) -> None:
        """Fork the child: before serving, so that it inherits no client connection and no listening socket."""
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = CRASHED
            try:
                parent.close()
                code = _serve(child, self.commit, self.after_fork, self.after_answer, self.before_exit)
            except BaseException:
                log.exception("storage process crashed")
            finally:
                # Never back into the parent's code: no asyncio loop, no atexit hooks, no buffers flushed twice.
                os._exit(code)
        child.close()
        self.pid, self._sock = pid, parent
        log.info("storage process started", pid=pid)

    async def run(self, items: Sequence[T]) -> Sequence[R | BaseException]:
        """One batch through the child: one outcome per item; an exception ``commit`` raised is raised here.
        Raises ``StorageProcessError`` once the child is gone (found before sending, nothing of the batch went
        to it; found after, whatever it had committed was never acknowledged)."""
        if self.lost or self.stopped:
            why = "storage process lost" if self.lost else "storage process stopped"
            raise StorageProcessError(why, batch_sent=False)
        if self._sock is None:
            self.start()
        if self.pid is not None and _exited(self.pid):
            self._lose("exited while idle")
            raise StorageProcessError("storage process lost", batch_sent=False)
        try:
            if self._reader is None or self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(sock=self._sock, limit=1 << 20)
            payload = pickle.dumps(list(items), protocol=pickle.HIGHEST_PROTOCOL)
            self._writer.write(_HEADER.pack(len(payload)) + payload)
            await self._writer.drain()
            (size,) = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
            outcomes: Sequence[R | BaseException] | BaseException = pickle.loads(  # noqa: S301 (see _HEADER)
                await self._reader.readexactly(size)
            )
        except (OSError, EOFError, asyncio.IncompleteReadError, pickle.UnpicklingError) as exc:
            self._lose(f"{type(exc).__name__}: {exc}")
            raise StorageProcessError("storage process lost while storing", batch_sent=True) from exc
        if isinstance(outcomes, BaseException):
            raise outcomes
        return outcomes

    def _lose(self, why: str) -> None:
        """The child is gone, or cannot be understood: make sure it is gone and reaped."""
        log.error("storage process lost", pid=self.pid, error=why)
        self.lost = True
        self._hang_up()
        if self.pid is not None:
            _kill(self.pid)
        self.pid = None

    def _hang_up(self) -> None:
        if self._writer is not None:
            self._writer.close()
        elif self._sock is not None:
            self._sock.close()
        self._reader = self._writer = None
        self._sock = None

    async def stop(self, timeout: float) -> bool:
        """Hang up, then wait up to ``timeout`` seconds for the child to finish its batch and send its pending
        wake-ups; past that it is killed. True if it ended in time."""
        pid, self.pid = self.pid, None
        self.stopped = True
        self._hang_up()
        return True if pid is None else await asyncio.to_thread(_wait, pid, timeout)


def _wait(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _exited(pid):
            return True
        time.sleep(0.01)
    _kill(pid)
    log.warning("storage process killed after the shutdown grace", pid=pid, seconds=timeout)
    return False


def _kill(pid: int) -> None:
    """Kill child ``pid`` and reap it (either may have happened already)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _exited(pid: int) -> bool:
    """Whether child ``pid`` has ended (and is now reaped)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done != 0


def _serve(
    sock: socket.socket,
    commit: Callable[[Sequence[Any]], Sequence[Any]],
    after_fork: Callable[[], None],
    after_answer: Callable[[], None],
    before_exit: Callable[[], None],
) -> int:
    """The child's loop: read a batch, commit it, answer; until the parent hangs up (or dies)."""
    # The parent's event loop set a wakeup fd for its signals: a signal here must not write into its self-pipe.
    signal.set_wakeup_fd(-1)
    # A stop is the parent's to decide: it hangs up, and this process then finishes its batch and its sends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    after_fork()
    stream = sock.makefile("rb")
    try:
        while True:
            header = stream.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return 0
            (size,) = _HEADER.unpack(header)
            items = pickle.loads(stream.read(size))  # noqa: S301 (see _HEADER)
            try:
                outcomes: Any = commit(items)
            except Exception as exc:
                outcomes = exc
            try:
                sock.sendall(_frame(outcomes))
            except OSError:
                return 0  # the parent is gone: nobody to answer
            after_answer()
    finally:
        before_exit()


def _frame(outcomes: Any) -> bytes:
    """``outcomes`` as a frame; an exception that does not pickle goes as a ``StoreUnavailableError`` with its text."""
    try:
        payload = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:

        def plain(o: Any) -> Any:
            return StoreUnavailableError(f"{type(o).__name__}: {o}") if isinstance(o, BaseException) else o

        outcomes = plain(outcomes) if isinstance(outcomes, BaseException) else [plain(o) for o in outcomes]
        payload = pickle.dumps(outcomes, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload
