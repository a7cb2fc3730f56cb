"""A CPU budget per message: the pipeline stops, and the message ends ``failed``, once it has used its share.

Every parser the linker runs is bounded (header fields, parts, HTML pieces, decoded lengths, fan-out), so no
message should come near the budget (``bench/hostile.py``: the worst is under 2 s). The budget is what holds when
a bound was missed: the loops over parts, header fields, HTML pieces and addresses call ``check``, which raises
``CpuLimitExceeded`` once this thread has used more CPU than ``[linker] cpu_limit`` since ``cpu_budget`` started.
The actor records that as a failure of the message, not of the worker: no retry.

The clock is ``time.thread_time``: the CPU of this thread only, so worker threads and linker processes alike each
count their own message. ``check`` is cheap (one clock read), but only called once per item of a loop, never per
character.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from linker.errors import LinkerError

#: The thread CPU time (``time.thread_time``) past which ``check`` raises, and the limit, while a budget runs.
_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("linker_cpu_deadline", default=None)


class CpuLimitExceeded(LinkerError):
    """The message used more CPU than the linker allows one message (``[linker] cpu_limit``)."""

    def __init__(self, limit: float) -> None:
        super().__init__(f"linking used more than its CPU limit of {limit:g} s")
        self.limit = limit


@contextmanager
def cpu_budget(limit: float | None) -> Iterator[None]:
    """Run the body with ``limit`` seconds of this thread's CPU (``None``: no limit). Budgets do not nest: an inner
    one replaces the outer for its duration."""
    token = _DEADLINE.set(None if limit is None else (time.thread_time() + limit, limit))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check() -> None:
    """Raise ``CpuLimitExceeded`` when the running budget is spent; nothing when none runs."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.thread_time() > deadline[0]:
        raise CpuLimitExceeded(deadline[1])
