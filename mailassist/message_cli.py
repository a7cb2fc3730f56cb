"""``mailassist message show ID`` and ``mailassist message export ID``: one stored message from the command line, as
the message page shows it, and its raw bytes, so that ``mailassist explain`` can be run on any stored message.

``ID`` is a message id (digits, as in ``/messages/ID``) or a receipt id (as in the ingest log), so receipts that
were never filed (ignored, failed, still queued) can be shown and exported too. The command line is trusted: it
sees every message, where the web shows raw bytes to role ``all`` only.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import click

from store import InboundView, Store
from store.errors import BlobNotFoundError
from store.page_shapes import MessageDetail, Viewer

#: Who the command line reads as: every message, like role ``all``.
TRUSTED = Viewer(user_id=0, role="all", team_id=None, addresses=())


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """What an ``ID`` names: a filed message (with its first receipt), or a receipt that may be unfiled."""

    message: MessageDetail | None
    receipt: InboundView | None


def find(store: Store, key: str) -> Found | None:
    """The message (digits) or receipt ``key`` names; ``None`` when nothing stored has that id."""
    key = key.strip()
    if key.isdigit() and len(key) <= 10:
        message = store.queries.get_message(TRUSTED, int(key))
        if message is None:
            return None
        receipt = store.receipts.get_inbound(message.receipts[0].id) if message.receipts else None
        return Found(message, receipt)
    receipt = store.receipts.get_inbound(key)
    if receipt is None:
        return None
    filed = _filed_as(store, receipt)
    return Found(store.queries.get_message(TRUSTED, filed) if filed is not None else None, receipt)


def _filed_as(store: Store, receipt: InboundView) -> int | None:
    row = store.queries.get_ingest_row(receipt.id)
    return row.message_id if row is not None else None


def raw_bytes(store: Store, found: Found) -> bytes:
    """The raw message exactly as stored: the receipt's bytes, else the filed message's by its SHA-256."""
    sha = found.receipt.sha256 if found.receipt is not None else found.message.raw_sha256 if found.message else None
    if sha is None:
        raise LookupError("nothing stored to export")
    return store.content.get_blob(sha)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"


def _person(name: str | None, address: str | None) -> str:
    if not address:
        return name or "-"
    return f"{name} <{address}>" if name else address


def _field(label: str, value: object) -> str:
    """One line of ``show``'s text: the label and its colon in a column of 11, then the value."""
    return f"{label + ':':<11} {value}"


def _receipt_lines(r: InboundView) -> list[str]:
    attempts = f", {r.attempts} attempts" if r.attempts > 1 else ""
    lines = [
        _field("Receipt", f"{r.id}  ({r.status}{attempts})"),
        _field("Received", f"{_when(r.received_at)} via {r.source}"),
        _field("Envelope", f"{r.mail_from or '<>'} -> {', '.join(r.rcpt_tos)}"),
        _field("Size", f"{r.size} bytes"),
        _field("SHA-256", r.sha256),
    ]
    if r.submitter:
        lines.append(_field("Submitter", f"{r.submitter} (proved by {r.proof or 'unknown'})"))
    if r.reason:
        lines.append(_field("Reason", r.reason))
    if r.last_error:
        lines.append(_field("Last error", r.last_error.splitlines()[0]))
    return lines


def _message_lines(m: MessageDetail) -> list[str]:
    lines = [
        _field("Message", f"{m.id}  ({m.kind}, {m.direction})"),
        _field("Subject", m.subject or "(no subject)"),
        _field("Date", f"{_when(m.date)}  (filed {_when(m.created_at)})"),
        _field("From", _person(m.from_name, m.from_address)),
    ]
    for role in ("to", "cc"):
        people = [_person(p.name, p.address) for p in m.participants if p.role == role]
        if people:
            lines.append(_field(role.title(), ", ".join(people)))
    lines += [
        _field("Message-ID", m.message_id_header or "-"),
        _field("Submitter", m.submitter or "-"),
        _field("SHA-256", m.raw_sha256),
        "Links:" if m.links else _field("Links", "none"),
    ]
    for link in m.links:
        source = f" (from message {link.from_message_id})" if link.from_message_id is not None else ""
        lines.append(f"  {link.type:<8} {link.id:>7}  {link.label}  - {link.reason}{source}")
    if m.codes:
        codes = [f"{c.code} ({'record ' + str(c.record_id) if c.record_id else 'unresolved'})" for c in m.codes]
        lines.append(_field("Codes", ", ".join(codes)))
    if m.attachments:
        lines.append(_field("Attachments", len(m.attachments)))
    lines.append("Receipts:" if m.receipts else _field("Receipts", "none"))
    for r in m.receipts:
        lines.append(f"  {r.id}  {_when(r.received_at)}  {r.source:<6} {r.status:<7} {r.reason or ''}".rstrip())
    return lines


def describe(found: Found) -> str:
    """``show``'s text: the receipt, then the message it was filed as (or that it was not filed)."""
    lines = _receipt_lines(found.receipt) if found.receipt is not None else []
    if found.message is not None:
        lines += ([""] if lines else []) + _message_lines(found.message)
    elif found.receipt is not None:
        lines.append("Not filed as a message.")
    return "\n".join(lines)


def as_json(found: Found) -> str:
    """``show --json``: the receipt and message as objects (dates in ISO 8601, the message body left out)."""

    def plain(obj: Any) -> Any:
        if obj is None:
            return None
        data = dataclasses.asdict(obj)
        for key in ("body_text", "body_html", "body_html_safe"):
            data.pop(key, None)
        return data

    return json.dumps(
        {"receipt": plain(found.receipt), "message": plain(found.message)},
        default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
        ensure_ascii=False,
        indent=2,
    )


def register(
    group: click.Group,
    *,
    store_of: Callable[[Any], AbstractContextManager[Store]],
    friendly: Callable[[Callable[..., None]], Callable[..., None]],
    fail: Callable[[str], None],
) -> None:
    """Add ``message show`` and ``message export`` to ``group``; ``store_of(state)`` opens the store (a context
    manager), ``friendly`` turns expected errors into one line, ``fail(text)`` exits with one."""

    @group.group("message")
    def message() -> None:
        """One stored message (by message id or receipt id): show it, or export its raw bytes."""

    def load(store: Store, key: str) -> Found:
        found = find(store, key)
        if found is None:
            fail(f"no stored message or receipt {key!r}")
        assert found is not None
        return found

    @message.command("show")
    @click.argument("key", metavar="ID")
    @click.option("--json", "json_out", is_flag=True, help="Print JSON instead of text.")
    @click.pass_obj
    @friendly
    def show(state: Any, key: str, json_out: bool) -> None:
        """Headers, links and their reasons, codes, receipts with their source, and the raw message's SHA-256."""
        with store_of(state) as store:
            found = load(store, key)
        click.echo(as_json(found) if json_out else describe(found))

    @message.command("export")
    @click.argument("key", metavar="ID")
    @click.pass_obj
    @friendly
    def export(state: Any, key: str) -> None:
        """Write the raw message, byte for byte as stored, to standard output (mailassist message export ID > m.eml)."""
        with store_of(state) as store:
            found = load(store, key)
            try:
                raw = raw_bytes(store, found)
            except (LookupError, BlobNotFoundError) as exc:
                fail(f"message {key}: raw bytes not stored ({exc})")
                return
        out = sys.stdout.buffer
        out.write(raw)
        out.flush()
