"""Shared pieces of the inline-forward tests: what a case must yield, where the fixtures are, and how they are read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from linker.forwards.html import html_to_text
from linker.model import Mailbox

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "forwards"
CET = timezone(timedelta(hours=1))


@dataclass(frozen=True)
class Case:
    """What one fixture must yield. ``to``/``cc`` are ``(name, address)`` pairs; ``body`` is a prefix."""

    subject: str
    sender: tuple[str | None, str | None]
    original_subject: str
    body: str
    to: list[tuple[str | None, str | None]] = field(default_factory=list)
    cc: list[tuple[str | None, str | None]] = field(default_factory=list)
    note: str | None = None
    date: datetime | None = None
    date_text: str | None = None


#: Replies (and a plain message) whose quoted text looks like a forward header: none of them is a forward.
NEGATIVES = {
    "reply_gmail_en.txt": "Re: Request for quotation: 40 pallets",
    "reply_outlook_de.txt": "AW: Angebot Ersatzteile",
    "reply_outlook_original_pl.txt": "RE: Zapytanie ofertowe",
    "reply_thunderbird_cs.txt": "Re: Objednávka č. 2024/118",
    "plain_note_en.txt": "Meeting moved",
}


def load(name: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return html_to_text(text) if name.endswith(".html") else text


def mailboxes(found: tuple[Mailbox, ...]) -> list[tuple[str | None, str | None]]:
    return [(m.name, m.address) for m in found]
