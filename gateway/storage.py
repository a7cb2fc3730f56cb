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
import signal
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import structlog

from gateway.child import Child, ChildGoneError
from store import StoreUnavailableError

log = structlog.get_logger("gateway")

T = TypeVar("T")
R = TypeVar("R")


class StorageProcessError(StoreUnavailableError):
    """The storage process is gone, or its answer could not be read. ``batch_sent``: whether the batch had gone to
    it (then it may have committed some of it, unacknowledged); if not, the batch can be stored elsewhere."""

    def __init__(self, message: str, *, batch_sent: bool) -> None:
        super().__init__(message)
        self.batch_sent = batch_sent


class _Service:
    """The child's side: the hooks, and ``commit`` for each batch."""

    def __init__(self, process: StorageProcess[Any, Any]) -> None:
        self.process = process

    def start(self) -> None:
        # A stop is the parent's to decide: it hangs up, and this process then finishes its batch and its sends.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.process.after_fork()

    def call(self, items: Sequence[Any]) -> Sequence[Any]:
        return self.process.commit(items)

    def answered(self) -> None:
        self.process.after_answer()

    def stop(self) -> None:
        self.process.before_exit()

    def plain(self, exc: BaseException) -> BaseException:
        return StoreUnavailableError(f"{type(exc).__name__}: {exc}")


class StorageProcess(Generic[T, R]):
    """Runs ``commit(items)`` in a forked child (``gateway.child``), one batch at a time. In the child,
    ``after_fork`` runs first (threads, pooled connections and locks from before the fork must be made anew there),
    ``after_answer`` after each answer has been sent (work the answer need not wait for), and ``before_exit`` last,
    once the parent has hung up."""

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
        self.child: Child | None = None
        #: Set when the child died or could not be understood, or was stopped; ``run`` then always raises.
        self.lost = False
        self.stopped = False

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None

    def start(self) -> None:
        """Fork the child: before serving, so that it inherits no client connection and no listening socket."""
        self.child = Child.fork(_Service(self))
        log.info("storage process started", pid=self.child.pid)

    async def run(self, items: Sequence[T]) -> Sequence[R | BaseException]:
        """One batch through the child: one outcome per item; an exception ``commit`` raised is raised here.
        Raises ``StorageProcessError`` once the child is gone (found before sending, nothing of the batch went
        to it; found after, whatever it had committed was never acknowledged)."""
        if self.lost or self.stopped:
            why = "storage process lost" if self.lost else "storage process stopped"
            raise StorageProcessError(why, batch_sent=False)
        if self.child is None:
            self.start()
        assert self.child is not None
        try:
            outcomes: Sequence[R | BaseException] = await self.child.acall(list(items))
        except ChildGoneError as exc:
            self.lost = True
            self.child.close()
            self.child = None
            why = "storage process lost while storing" if exc.sent else "storage process lost"
            raise StorageProcessError(why, batch_sent=exc.sent) from exc
        return outcomes

    async def stop(self, timeout: float) -> bool:
        """Hang up, then wait up to ``timeout`` seconds for the child to finish its batch and send its pending
        wake-ups; past that it is killed. True if it ended in time."""
        child, self.child = self.child, None
        self.stopped = True
        if child is None:
            return True
        child.hang_up()
        ended = await asyncio.to_thread(child.end, timeout)
        if not ended:
            log.warning("storage process killed after the shutdown grace", pid=child.pid, seconds=timeout)
        return ended
