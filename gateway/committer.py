"""Group commit: DATA commands that arrive together share one blob-directory sync and one database transaction.

Each waiter still hears back only after its own receipt is committed. While one batch commits, the next one
gathers, so under load a batch holds whatever arrived during the previous commit, and with one sender a batch is
that one message (no added delay).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("gateway")

T = TypeVar("T")
R = TypeVar("R")

#: Most items per transaction: bounds one commit's time (and a failed batch's per-row retries).
MAX_BATCH = 200


class GroupCommitter(Generic[T, R]):
    """Feeds waiting items, in batches, one batch at a time, to ``runner`` (``gateway.intake`` stores them on threads
    or in a process of its own), or by default to ``commit`` on a thread of its own.

    ``commit`` returns one outcome per item: a result, or the exception that item's waiter gets. An exception
    raised by ``commit`` itself goes to every waiter of the batch.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Sequence[R | BaseException]] | None = None,
        *,
        max_batch: int = MAX_BATCH,
        runner: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]] | None = None,
    ):
        if commit is None and runner is None:
            raise ValueError("GroupCommitter needs a commit or a runner")
        self.commit = commit
        self.max_batch = max_batch
        #: Runs one batch (default: ``commit`` on the committer's thread); ``gateway.intake`` runs it elsewhere.
        self.runner = runner or self.run_on_thread
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None
        # Its own thread: a commit never queues behind blob writes, and commits never overlap.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-commit")

    async def submit(self, item: T) -> R:
        """Commit ``item`` with whatever else is waiting; return its outcome (or raise its error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            items = [item for item, _ in batch]
            started = time.perf_counter()
            try:
                outcomes = await self.runner(items)
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"commit returned {len(outcomes)} outcomes for {len(batch)} items")
            except Exception as exc:
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the waiter gave up (store_timeout); its item saw its deadline pass
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            log.debug("smtp group commit", size=len(batch), ms=round((time.perf_counter() - started) * 1000, 1))

    async def run_on_thread(self, items: Sequence[T]) -> Sequence[R | BaseException]:
        """``commit(items)`` on the committer's own thread."""
        assert self.commit is not None
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.commit, items)

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a batch."""
        return len(self._pending)

    def close(self) -> None:
        """Release the commit thread (a commit still running finishes on its own)."""
        self._thread.shutdown(wait=False, cancel_futures=True)
