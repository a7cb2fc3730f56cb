"""The part tree both readers build (``Part``), and the ``ParsedMessage`` put together from it: which part is the
text body, which the HTML, which are attachments and attached messages, and the header values the linker reads.

``linker.parse`` fills a ``Reading`` with flanker or the stdlib; ``assemble`` decides the rest the same way for
both, so bodies, charsets and attachments never depend on which parser read the structure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from linker.charsets import Context, clean_text, decode_text, unfold
from linker.errors import UnreadableMessageError
from linker.htmlwalk import simple_html_to_text
from linker.model import Attachment, Mailbox, ParsedMessage
from linker.rawbounds import split_head


@dataclass(slots=True)
class Part:
    """One MIME part as either parser read it; leaves carry their transfer-decoded bytes."""

    content_type: str
    charset: str | None = None
    disposition: str | None = None
    filename: str | None = None
    content_id: str | None = None
    data: bytes = b""
    children: list[Part] = field(default_factory=list)
    #: ``message/rfc822``: the enclosed message's raw bytes.
    message: bytes | None = None


@dataclass(slots=True)
class Reading:
    headers: list[tuple[str, str]]
    mailboxes: dict[str, list[Mailbox]]
    root: Part
    parser: str
    defects: list[str] = field(default_factory=list)


def assemble(reading: Reading, context: Context) -> ParsedMessage:
    headers = tuple(reading.headers)
    defects = reading.defects

    def first(name: str) -> str | None:
        return next((value for key, value in headers if key.lower() == name), None)

    def every(name: str) -> list[str]:
        return [value for key, value in headers if key.lower() == name]

    texts, htmls = _bodies(reading.root, context, defects)
    html = "\n".join(htmls) if htmls else None
    text = "\n".join(texts) if texts else None
    if html is not None and (text is None or not text.strip()):
        text = _html_to_text(html, defects)
    parts = list(_walk(reading.root))
    sender = reading.mailboxes.get("sender") or []
    subject = first("subject")
    return ParsedMessage(
        headers=headers,
        from_=tuple(reading.mailboxes.get("from", [])),
        sender=sender[0] if sender else None,
        to=tuple(reading.mailboxes.get("to", [])),
        cc=tuple(reading.mailboxes.get("cc", [])),
        reply_to=tuple(reading.mailboxes.get("reply-to", [])),
        date=_parse_date(first("date"), defects),
        subject=subject.replace("\t", " ").strip() if subject is not None else None,
        message_id=next(iter(_ids(first("message-id") or "")), None),
        in_reply_to=tuple(_ids(" ".join(every("in-reply-to")))),
        references=tuple(_ids(" ".join(every("references")))),
        text=text,
        html=html,
        attachments=tuple(_attachment(part, html or "") for part in parts if _is_attachment(part)),
        attached_messages=_attached_messages(parts, defects),
        is_report=any(part.content_type == "multipart/report" for part in parts),
        parser=reading.parser,
        defects=tuple(dict.fromkeys(defects)),
    )


def _attached_messages(parts: list[Part], defects: list[str]) -> tuple[bytes, ...]:
    """Each enclosed message's raw bytes, but not the empty or binary ones (``parse_message`` would refuse them),
    and each message saved to a file and attached as one (``_saved_message``)."""
    out: list[bytes] = []
    for part in parts:
        if part.message is None:
            saved = _saved_message(part)
            if saved is not None:
                out.append(saved)
            continue
        try:
            check_readable(part.message)
        except UnreadableMessageError as exc:
            defects.append(f"attached message skipped: {exc.reason}")
            continue
        out.append(part.message)
    return tuple(out)


def _saved_message(part: Part) -> bytes | None:
    """A ``.eml`` file attached under another type than ``message/rfc822`` (``application/octet-stream``, as a
    browser or a file manager labels a saved message): its bytes when they open with a header block that has a
    From line; it stays an attachment as well."""
    if not (part.filename or "").lower().endswith(".eml") or not _HEADER_START.match(part.data):
        return None
    head, _blank, _body = split_head(part.data[:MAX_SAVED_HEAD])
    return part.data if _FROM_LINE.search(head) else None


def _walk(root: Part) -> Iterator[Part]:
    """Every part in document order; the inside of attached messages is theirs, not ours."""
    stack = [root]
    while stack:
        part = stack.pop()
        yield part
        stack.extend(reversed(part.children))


def _is_body(part: Part) -> bool:
    return (
        part.content_type in ("text/plain", "text/html")
        and not part.children
        and part.message is None
        and part.filename is None
        and part.disposition != "attachment"
    )


def _is_attachment(part: Part) -> bool:
    return not part.content_type.startswith("multipart/") and part.message is None and not _is_body(part)


def _bodies(part: Part, context: Context, defects: list[str]) -> tuple[list[str], list[str]]:
    """The text and HTML bodies under ``part``: one of each alternative, every one of mixed parts."""
    if part.content_type.startswith("multipart/"):
        found = [_bodies(child, context, defects) for child in part.children]
        if part.content_type == "multipart/alternative":
            texts = next((texts for texts, _ in found if texts), [])
            htmls = next((htmls for _, htmls in reversed(found) if htmls), [])
            return texts, htmls
        return [t for texts, _ in found for t in texts], [h for _, htmls in found for h in htmls]
    if not _is_body(part):
        return [], []
    text = decode_text(part.data, part.charset, context, defects)
    return ([text], []) if part.content_type == "text/plain" else ([], [text])


def _attachment(part: Part, html: str) -> Attachment:
    content_type, filename = part.content_type, part.filename
    if content_type == "application/ms-tnef" and filename is None:
        filename = "winmail.dat"
    elif filename is not None and filename.lower() == "winmail.dat" and content_type == "application/octet-stream":
        content_type = "application/ms-tnef"
    cid = part.content_id
    inline = cid is not None and (part.disposition != "attachment" or f"cid:{cid}".lower() in html.lower())
    return Attachment(
        filename=filename,
        content_type=content_type,
        size=len(part.data),
        sha256=hashlib.sha256(part.data).hexdigest(),
        content_id=cid,
        inline=inline,
        data=part.data,
    )


def _html_to_text(html: str, defects: list[str]) -> str:
    try:
        from linker.forwards.html import html_to_text  # noqa: PLC0415
    except ImportError:
        return simple_html_to_text(html)
    try:
        text: str = html_to_text(html)
    except Exception as exc:  # someone else's bug must not lose the message
        defects.append(f"html_to_text: {describe(exc)}")
        return simple_html_to_text(html)
    return text


def _ids(value: str) -> list[str]:
    """Message ids in angle brackets, in order; bare ``id@host`` words when nothing is bracketed."""
    found = _ID.findall(value)
    if not found:
        found = [word.strip("<>,;") for word in value.split() if "@" in word]
    return [clean_text(item) for item in dict.fromkeys(found) if item]


def _parse_date(value: str | None, defects: list[str]) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (ValueError, TypeError, IndexError, OverflowError):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            defects.append(f"unreadable Date: {value[:80]!r}")
            return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")


_HEADER_START = re.compile(rb"(?:From [^\r\n]*\r?\n)?[!-9;-~]+[ \t]*:")
_FROM_LINE = re.compile(rb"^from[ \t]*:", re.IGNORECASE | re.MULTILINE)
#: How much of a saved message is searched for its From line.
MAX_SAVED_HEAD = 65_536


def check_readable(raw: bytes) -> None:
    if not raw.strip():
        raise UnreadableMessageError("empty message")
    if _HEADER_START.match(raw) or _looks_like_text(raw[:4096]):
        return
    raise UnreadableMessageError("no header and not text")


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    controls = sum(1 for byte in sample if (byte < 0x20 and byte not in b"\t\r\n\f") or byte == 0x7F)
    return controls <= len(sample) // 20


def strip_id(value: Any) -> str | None:
    if not value:
        return None
    text = clean_text(unfold(str(value))).strip()
    found = _ID.search(text)
    text = found.group(1) if found else text.strip("<>").strip()
    return text or None


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
