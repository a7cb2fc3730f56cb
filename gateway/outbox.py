"""Queue wake-ups for committed receipts: ``Outbox`` sends from one thread of its own (storage on threads of the
SMTP process), ``InlineOutbox`` after each answer (the storage process).

The broker is only a wake-up call (the sweeper re-sends whatever stays ``queued``), so a send must never delay a
250: a black-holed Redis can block a send for its connect timeout. Each committed batch's ids go in order, with
one call (one Redis round trip); a failure is logged per id and left to the sweeper.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence

import structlog

log = structlog.get_logger("gateway")

#: Put on the queue by ``close``: everything before it is sent, then the thread ends.
_STOP = None


class Outbox:
    """Calls ``send(inbound_ids)`` for every batch handed to ``send``, in order, on a daemon thread."""

    def __init__(self, send: Callable[[Sequence[str]], None]) -> None:
        self._send = send
        self._queue: queue.SimpleQueue[Sequence[str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="enqueue", daemon=True)
        self._thread.start()

    def send(self, inbound_ids: Sequence[str]) -> None:
        """Hand over ids to wake a worker for; returns at once."""
        if inbound_ids:
            self._queue.put(inbound_ids)

    def close(self, timeout: float) -> bool:
        """Send what is pending (for up to ``timeout`` seconds) and stop; True if everything was sent."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _STOP:
            try:
                self._send(batch)
            except Exception as exc:
                # Some of the batch may have gone out; sending those again later is harmless (invariant 4)
                _log_failed(batch, exc)


class InlineOutbox:
    """The storage process's outbox: a batch's ids are kept until ``flush``, which sends them on the calling thread.

    The storage process flushes after it has answered the batch, so the SMTP replies never wait for the broker; on
    a thread of its own, the same sends cost more CPU in contention for the GIL than the sends themselves. A broker
    that fails (or black-holes a send until its timeout) would then hold up the next batch: after a failure, sends
    are skipped for ``pause`` seconds and left to the sweeper, so an outage costs one timeout per pause, not one
    per batch.
    """

    def __init__(
        self, send: Callable[[Sequence[str]], None], *, pause: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._send = send
        self.pause = pause
        self.clock = clock
        self._pending: list[str] = []
        self._paused_until = float("-inf")

    def send(self, inbound_ids: Sequence[str]) -> None:
        """Keep ids until the next ``flush``."""
        self._pending.extend(inbound_ids)

    def flush(self) -> None:
        """Send what is kept, unless a send failed less than ``pause`` seconds ago."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        if self.clock() < self._paused_until:
            for inbound_id in batch:
                log.info("queue send skipped after a recent failure; the sweeper will retry", inbound_id=inbound_id)
            return
        try:
            self._send(batch)
        except Exception as exc:
            self._paused_until = self.clock() + self.pause
            _log_failed(batch, exc, pause=self.pause)

    def close(self, timeout: float) -> bool:
        """Send what is kept (``timeout`` is the broker client's own); True."""
        self.flush()
        return True


def _log_failed(inbound_ids: Sequence[str], exc: Exception, **extra: object) -> None:
    """One line per id whose wake-up may not have gone out: the sweeper re-sends it."""
    for inbound_id in inbound_ids:
        log.warning(
            "queue send failed; the sweeper will retry",
            inbound_id=inbound_id,
            error=f"{type(exc).__name__}: {exc}",
            **extra,
        )
