"""The collector settings of our long-lived processes (``mailassist.heap``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from mailassist import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_freezes_what_start_up_built_and_collects_the_young_less_often(restored_gc: None) -> None:
    built_at_start_up = {"config": ["a", "b"]}
    _, middle, old = gc.get_threshold()

    heap.settle()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)
    assert not any(o is built_at_start_up for o in gc.get_objects())  # frozen objects are not walked any more


def test_cycles_made_after_settle_are_still_collected(restored_gc: None) -> None:
    heap.settle()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b

    gc.collect()

    assert gone() is None
