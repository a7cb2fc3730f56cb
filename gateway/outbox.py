"""Queue wake-ups for committed receipts, sent from one thread of their own.

The broker is only a wake-up call (the sweeper re-sends whatever stays ``queued``), so a send must never delay a
250: a black-holed Redis can block a send for its connect timeout. One thread takes every committed batch and
sends its ids in order, with one call (one Redis round trip); a failure is logged per id and left to the sweeper.
"""

from __future__ import annotations

import queue
import threading
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
                for inbound_id in batch:
                    log.warning(
                        "queue send failed; the sweeper will retry",
                        inbound_id=inbound_id,
                        error=f"{type(exc).__name__}: {exc}",
                    )
