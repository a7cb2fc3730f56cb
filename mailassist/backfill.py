"""``mailassist ingest``: the messages of .eml files, directories of them and mbox files, each handed to the
intake (``gateway.ingest``) as the operator vouches, and the tally of what became of them."""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.ingest import Ingested, Outcome

#: A file starting with this is an mbox (RFC 4155), whatever its name.
MBOX_MAGIC = b"From "


@dataclass(frozen=True, slots=True)
class Item:
    """One message to ingest: where it came from (``export.mbox#3`` for the third message of an mbox), and its
    bytes and envelope sender; or why it could not be read."""

    label: str
    raw: bytes | None = None
    mail_from: str = ""
    error: str | None = None


def is_mbox(path: Path) -> bool:
    """Whether ``path`` is an mbox: named ``.mbox``, or starting with a ``From `` line."""
    if path.suffix.lower() == ".mbox":
        return True
    try:
        with path.open("rb") as f:
            return f.read(len(MBOX_MAGIC)) == MBOX_MAGIC
    except OSError:
        return False


def files_of(path: Path) -> list[Path]:
    """``path`` itself, or every regular file under the directory ``path`` (Maildir's ``cur``/``new`` included),
    sorted, hidden ones skipped."""
    if not path.is_dir():
        return [path]
    found = (p for p in path.rglob("*") if p.is_file())
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(path).parts))


def _envelope_sender(from_line: str) -> str:
    """The sender of an mbox ``From sender date`` line (``MAILER-DAEMON`` and ``<>`` as the null sender)."""
    sender = from_line.split(" ", 1)[0].strip("<>")
    return "" if sender.upper() == "MAILER-DAEMON" else sender


def _mbox_items(path: Path) -> Iterator[Item]:
    box = mailbox.mbox(path, create=False)
    try:
        for n, key in enumerate(box.iterkeys(), start=1):
            label = f"{path}#{n}"
            try:
                message = box.get_message(key)
                yield Item(label, box.get_bytes(key), _envelope_sender(message.get_from() or ""))
            except (OSError, ValueError, KeyError) as exc:
                yield Item(label, error=str(exc))
    finally:
        box.close()


def count(paths: list[Path]) -> int:
    """How many messages ``items`` will give (an mbox counted by its ``From `` lines), for the progress bar."""
    total = 0
    for path in paths:
        if is_mbox(path):
            try:
                box = mailbox.mbox(path, create=False)
                total += len(box)
                box.close()
            except OSError:
                total += 1
        else:
            total += 1
    return total


def items(paths: list[Path]) -> Iterator[Item]:
    """Every message of ``paths`` (files or mboxes), in order; an unreadable file is one ``Item`` with an error."""
    for path in paths:
        if not path.exists():
            yield Item(str(path), error="no such file")
        elif is_mbox(path):
            try:
                yield from _mbox_items(path)
            except OSError as exc:
                yield Item(str(path), error=exc.strerror or str(exc))
        else:
            try:
                yield Item(str(path), path.read_bytes())
            except OSError as exc:
                yield Item(str(path), error=exc.strerror or str(exc))


@dataclass(slots=True)
class Tally:
    """What became of the messages of one run."""

    new: int = 0
    duplicates: int = 0
    #: Refused by policy, by reason (``not_an_email``, ``too_big``…).
    refused: Counter[str] = field(default_factory=Counter)
    #: Files that could not be read.
    unreadable: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count one intake answer."""
        if isinstance(outcome, Ingested):
            if outcome.duplicate:
                self.duplicates += 1
            else:
                self.new += 1
        else:
            self.refused[outcome.reason] += 1

    @property
    def failed(self) -> int:
        """Messages not taken: refused or unreadable."""
        return sum(self.refused.values()) + self.unreadable

    def summary(self) -> str:
        """``ingest: 12 messages: 10 new, 1 duplicate, 1 refused (not_an_email: 1)``."""
        total = self.new + self.duplicates + self.failed
        text = (
            f"ingest: {total} message{'s' if total != 1 else ''}: {self.new} new, "
            f"{self.duplicates} duplicate{'s' if self.duplicates != 1 else ''}, "
            f"{sum(self.refused.values())} refused"
        )
        if self.refused:
            text += " (" + ", ".join(f"{reason}: {n}" for reason, n in sorted(self.refused.items())) + ")"
        if self.unreadable:
            text += f", {self.unreadable} unreadable"
        return text
