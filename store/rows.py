"""Views read off rows: a frozen dataclass filled from the same-named attributes of an ORM object or a Core row, so
that a view whose fields are its columns' names is not copied out field by field (and cannot miss one)."""

from __future__ import annotations

import functools
from collections.abc import Hashable
from dataclasses import fields
from typing import Any, TypeVar, cast

_View = TypeVar("_View")


@functools.cache
def _field_names(cls: Any) -> tuple[str, ...]:
    # Once per class, not per row: a listing reads hundreds of rows into the same view.
    return tuple(f.name for f in fields(cls))


def from_row(cls: type[_View], row: Any, **given: Any) -> _View:
    """A ``cls`` with each field that is ``given`` as given, and every other one read from ``row``'s attribute of
    that name (an ``AttributeError`` when the row has none: a field the row lacks is not silently defaulted)."""
    names: tuple[str, ...] = _field_names(cast(Hashable, cls))  # a class is hashable; mypy's ``type`` is not
    return cls(**{name: given[name] if name in given else getattr(row, name) for name in names})
