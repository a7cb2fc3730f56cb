"""Find the original email inside a forward: an attached ``message/rfc822`` part or an inline block.

The outermost forward is unwrapped first. When its sender is one of us (a colleague forwarded the client's mail
to a salesperson, who forwarded it here), we keep going inward to the first external sender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from linker.errors import UnreadableMessageError
from linker.forwards.inline import find_inline_forward
from linker.forwards.subject import strip_forward_prefix
from linker.model import InlineForward, Original, ParsedMessage

#: A forward of a forward of a forward… is fine; a hundred levels is an attack.
MAX_DEPTH = 8

ParseFn = Callable[[bytes], ParsedMessage]
IsInternal = Callable[[str], bool]


def _text(value: str | None) -> str | None:
    """Trimmed text with ``\n`` line ends, or ``None`` when empty."""
    if value is None:
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n").strip() or None


def _aware(value: datetime | None) -> datetime | None:
    # A forward's header block rarely says its zone; reading it as UTC beats losing the date.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def original_of(message: ParsedMessage, *, note: str | None = None, forwarded: str | None = None) -> Original:
    """The message itself as an ``Original`` (BCC, redirect, or an attached message)."""
    return Original(
        from_=message.from_[0] if message.from_ else None,
        to=message.to,
        cc=message.cc,
        date=_aware(message.date),
        subject=message.subject,
        message_id=message.message_id,
        body=_text(message.text),
        html=message.html,
        note=note,
        forwarded=forwarded,
        thread_ids=tuple(dict.fromkeys((*message.in_reply_to, *message.references))),
    )


def _from_inline(fw: InlineForward, note: str | None) -> Original:
    return Original(
        from_=fw.from_,
        to=fw.to,
        cc=fw.cc,
        date=_aware(fw.date),
        subject=strip_forward_prefix(fw.subject) if fw.subject else fw.subject,
        message_id=None,
        body=_text(fw.body),
        html=None,
        note=note,
        forwarded="inline",
    )


def _note_above_attachment(message: ParsedMessage) -> str | None:
    return _text(message.text)


def _one_level(
    message: ParsedMessage | None, text: str | None, subject: str | None, parse: ParseFn
) -> tuple[Original, ParsedMessage | None] | None:
    """One level of unwrapping: an attached message wins over an inline block."""
    if message is not None and not message.is_report and message.attached_messages:
        try:
            inner = parse(message.attached_messages[0])
        except UnreadableMessageError:
            inner = None  # an unreadable attachment is still stored; the outer message is what we file
        if inner is not None:
            return original_of(inner, note=_note_above_attachment(message), forwarded="attached"), inner
    if message is not None and message.is_report:
        return None
    found = find_inline_forward(text or "", outer_subject=subject)
    if found is None:
        return None
    return _from_inline(found, found.note), None


def unwrap(message: ParsedMessage, *, parse: ParseFn, is_internal: IsInternal) -> Original | None:
    """The forwarded original, or ``None`` when the message carries no forward. The note is the outermost one."""
    level = _one_level(message, message.text, message.subject, parse)
    if level is None:
        return None
    original, inner = level
    note = original.note
    for _ in range(MAX_DEPTH):
        sender = original.from_.address if original.from_ and original.from_.address else None
        if sender is None or not is_internal(sender.lower()):
            break
        deeper = _one_level(inner, original.body if inner is None else inner.text, original.subject, parse)
        if deeper is None:
            break
        original, inner = deeper
    return replace(original, note=note)
