"""Split a list of mailboxes at its top-level separators. What nests (quotes, brackets, comments) differs between a
header value and a value a mail client displays, so each reader brings its own ``Nesting``; the split is one."""

from __future__ import annotations

from typing import Protocol


class Nesting(Protocol):
    """The nesting state of one scan, character by character."""

    def top_level(self, char: str) -> bool:
        """Take the next character; whether it stands outside every quote, bracket or comment (one that opens or
        closes them does not)."""
        ...


def split_top_level(value: str, separators: str, nesting: Nesting) -> list[str]:
    """``value`` split at the ``separators`` that stand at top level, each item stripped, empty ones dropped."""
    items: list[str] = []
    current: list[str] = []
    for char in value:
        if nesting.top_level(char) and char in separators:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]
