"""How the cyclic garbage collector runs in our long-lived processes.

A viewer page over a busy client reads thousands of rows (each a container the collector tracks), so with the
interpreter's defaults (a young collection every 700 allocations) one request runs a couple of dozen collections, and
now and then a full one that walks every object the process holds: modules, SQLAlchemy's compiled statements, the
config. That full pass is what made the viewer's slowest requests two or three times its median
(``bench/RESULTS.md``, "Viewer pages at 100k messages").

``settle()``, called once a process has started its parts, moves what start-up built into the collector's permanent
generation (``gc.freeze``: never walked again, and the pages a forked child shares with its parent stay shared), and
raises the young-generation threshold so that a request's short-lived rows are freed by reference counting before a
collection looks at them. Cycles are still collected, only in larger batches: at most ``YOUNG_THRESHOLD`` young
containers wait for it.
"""

from __future__ import annotations

import gc

#: Allocations of tracked containers between two young collections (the interpreter's default is 700).
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Freeze what start-up allocated and collect the young generation less often (see the module docstring)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
