"""Read raw message bytes into a ``ParsedMessage``.

flanker (``flanker.mime``, ``flanker.addresslib``) reads the message first. When it raises, the stdlib ``email``
package (``policy.default``) reads it instead, and the message says so (``parser="email"``, flanker's error in
``defects``). Both readers build the same small part tree, so bodies, charsets and attachments are decided by one
piece of code whichever parser read the structure. Around them: ``rawbounds`` (bounds on the bytes before either
reads them), ``charsets`` (bytes to text), ``addrlist`` (address headers), ``htmlwalk`` (HTML bodies) and
``flankerlib`` (flanker's quiet import).
"""

from __future__ import annotations

import re
from collections import defaultdict
from email import message_from_bytes, policy
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any

from linker import budget
from linker.addrlist import email_addresses, parse_addresses
from linker.assemble import Part, Reading, assemble, check_readable, describe, strip_id
from linker.charsets import (
    Context,
    clean_text,
    decode_words,
    header_text,
    repair_8bit,
    transfer_decode,
    unfold,
)
from linker.errors import UnreadableMessageError
from linker.flankerlib import Flanker, load_flanker
from linker.model import ParsedMessage
from linker.rawbounds import (
    ADDRESS_HEADERS,
    DIRECT_BODY_BYTES,
    MAX_HEADER_FIELDS,
    MAX_PARTS,
    bound_header_fields,
    declared_boundaries,
    delimiter_lines,
    escape_false_delimiters,
    is_single_part,
    skeleton,
    split_head,
)

#: MIME nesting deeper than this is an attack, not a message: the parts below are dropped (and recorded).
MAX_DEPTH = 50


# ---- public API --------------------------------------------------------------------------------------------------


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message with flanker, or with the stdlib when flanker raises; ``UnreadableMessageError`` if neither."""
    check_readable(raw)
    # Both bounds below look for the declared boundaries (a scan of the whole message): once, unless the first one
    # cut header fields (which may have declared some).
    boundaries = declared_boundaries(raw) if raw.count(b"\n") > MAX_HEADER_FIELDS else set()
    raw, dropped = bound_header_fields(raw, boundaries)
    raw, escaped = escape_false_delimiters(raw, declared_boundaries(raw) if dropped else boundaries)
    context = Context(raw)
    lib = load_flanker()  # outside the try: a flanker that cannot be imported is our bug, not the message's
    try:
        reading = _read_with_flanker(context, lib)
    except budget.CpuLimitExceeded:
        raise
    except Exception as exc:
        flanker_error = f"flanker: {describe(exc)}"
        try:
            reading = _read_with_email(context)
        except budget.CpuLimitExceeded:
            raise
        except Exception as fallback_exc:
            raise UnreadableMessageError(f"{flanker_error}; email: {describe(fallback_exc)}") from fallback_exc
        reading.defects.insert(0, flanker_error)
    if dropped:
        reading.defects.append(
            f"{dropped} header fields past the first {MAX_HEADER_FIELDS} of a block dropped"
            " (the raw message keeps them)"
        )
    if escaped:
        reading.defects.append(
            f"{escaped} lines that start with '--' and are no MIME boundary read with a space in front"
            " (the raw message keeps them)"
        )
    return assemble(reading, context)


# ---- reading: a part tree both parsers build ---------------------------------------------------------------------


def _read_with_flanker(context: Context, lib: Flanker) -> Reading:
    # flanker reads text. Given bytes that are not UTF-8 it guesses one charset for the whole message (chardet) and
    # ignores the parts' own: Polish cp1250 came back as "Zażó³ĉ". So decode reversibly here and re-read each
    # part's bytes with its declared charset.
    body: bytes | None = None
    text = context.raw
    if len(context.raw) > DIRECT_BODY_BYTES:
        # flanker's scanner reads every byte of a message looking for parts (0.8 s for 24 MB): a message that has
        # none needs only its header read (its body is the bytes after it), and a multipart only its structure.
        head, blank, rest = split_head(context.raw)
        if blank and is_single_part(head):
            text, body = head + blank, rest
        else:
            text, context.elided = skeleton(context.raw, declared_boundaries(context.raw))
    message = lib.mime.from_string(text.decode(context.codec, "surrogateescape"))
    reading = Reading([], defaultdict(list), Part("text/plain"), "flanker")
    for name, value in message.headers.iteritems(raw=True):
        budget.check()
        if isinstance(value, str):
            raw_value = repair_8bit(value, context.codec)
            decoded = decode_words(raw_value)
            if name.lower() in ADDRESS_HEADERS:
                reading.mailboxes[name.lower()].extend(parse_addresses(raw_value))
        else:  # Content-Type and friends: (value, params), already decoded
            decoded = _render_params(value)
        reading.headers.append((name, clean_text(unfold(str(decoded)))))
    reading.root = _flanker_part(message, context, reading.defects, 0, body=body)
    return reading


def _flanker_part(part: Any, context: Context, defects: list[str], depth: int, *, body: bytes | None = None) -> Part:
    """One part as flanker read it; ``body``: the part's bytes when flanker was given its header only."""
    budget.check()
    content_type = part.content_type
    disposition = part.content_disposition.value
    node = Part(
        content_type=str(content_type.value).lower(),
        charset=_param(content_type.params.get("charset")),
        disposition=str(disposition).lower() if disposition else None,
        filename=_clean_filename(part.detected_file_name),
        content_id=strip_id(part.headers.get("Content-Id")),
    )
    if content_type.is_multipart():
        if depth >= MAX_DEPTH:
            defects.append(f"parts nested deeper than {MAX_DEPTH} dropped")
            return node
        node.children = [_flanker_part(child, context, defects, depth + 1) for child in part.parts]
        return node
    encoding = str(part.content_encoding.value or "").lower()
    # The part's own text, as sent: flanker's decoded bodies lose the bytes (and the charset) of text parts.
    if body is None:
        body = str(part._container.read_body()).encode(context.codec, "surrogateescape")
        if context.elided is not None:
            body = context.elided.restore(body)
    data = transfer_decode(body, encoding, defects)
    if content_type.is_message_container():
        node.message = data
    else:
        node.data = data
    return node


def _read_with_email(context: Context) -> Reading:
    if delimiter_lines(context.raw) > MAX_PARTS:
        raise ValueError(f"more than {MAX_PARTS} MIME parts")
    message = message_from_bytes(context.raw, policy=policy.default)
    reading = Reading([], defaultdict(list), Part("text/plain"), "email")
    for name, value in message.raw_items():
        raw_value = header_text(str(value), context)
        if name.lower() in ADDRESS_HEADERS:
            reading.mailboxes[name.lower()].extend(email_addresses(unfold(raw_value)))
        reading.headers.append((name, clean_text(unfold(decode_words(raw_value)))))
    reading.root = _email_part(message, context, reading.defects, 0)
    return reading


def _email_part(part: Message, context: Context, defects: list[str], depth: int) -> Part:
    budget.check()
    content_type = part.get_content_type().lower()
    filename = part.get_filename()
    node = Part(
        content_type=content_type,
        charset=_param(part.get_param("charset")),
        disposition=part.get_content_disposition(),
        filename=_clean_filename(decode_words(filename) if filename else None),
        content_id=strip_id(header_text(str(part.get("Content-ID", "")), context)),
    )
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if content_type in ("message/rfc822", "message/news") and isinstance(payload, list) and payload:
        node.message = transfer_decode(_serialize(payload[0], context.linesep), encoding, defects)
    elif content_type.startswith("multipart/") and isinstance(payload, list):
        if depth >= MAX_DEPTH:
            defects.append(f"parts nested deeper than {MAX_DEPTH} dropped")
            return node
        children = [child for child in payload if isinstance(child, Message)]
        node.children = [_email_part(child, context, defects, depth + 1) for child in children]
    elif content_type.startswith("multipart/"):
        return _salvage_multipart(part, node, context, defects, depth)
    elif isinstance(payload, list):  # message/delivery-status and the like: blocks of headers
        node.data = b"".join(_serialize(block, context.linesep) for block in payload)
    else:
        data = part.get_payload(decode=True)
        node.data = data if isinstance(data, bytes) else b""
    return node


def _salvage_multipart(part: Message, node: Part, context: Context, defects: list[str], depth: int) -> Part:
    """A multipart whose boundary is missing or wrong: use the first boundary-looking line, else read it as text."""
    data = part.get_payload(decode=True)
    body = data if isinstance(data, bytes) else b""
    found = re.search(rb"^--([^\r\n]{1,70}?)\s*$", body, re.MULTILINE)
    declared = part.get_param("boundary")
    if found is None or depth >= MAX_DEPTH:
        defects.append(f"{node.content_type} without a usable boundary: read as text")
        node.content_type, node.data = "text/plain", body
        return node
    boundary = found.group(1).removesuffix(b"--")
    defects.append(f"{node.content_type}: boundary {declared!r} not found; used {boundary.decode('latin-1')!r}")
    header = b"Content-Type: " + node.content_type.encode() + b'; boundary="' + boundary + b'"\r\n\r\n'
    fixed = message_from_bytes(header + body, policy=policy.default)
    salvaged = _email_part(fixed, context, defects, depth + 1)
    salvaged.disposition, salvaged.filename, salvaged.content_id = node.disposition, node.filename, node.content_id
    return salvaged


def _serialize(message: Any, linesep: str) -> bytes:
    if not isinstance(message, Message):
        return str(message).encode("utf-8", "surrogateescape")
    return message.as_bytes(policy=policy.compat32.clone(max_line_length=0, linesep=linesep))


# ---- putting a ParsedMessage together ----------------------------------------------------------------------------


# ---- header values -----------------------------------------------------------------------------------------------


def _render_params(value: Any) -> str:
    main, params = value[0], value[1] if len(value) > 1 else {}
    rendered = [str(main or "")]
    for key, param in (params or {}).items():
        rendered.append(f'{key}="{_param(param)}"')
    return "; ".join(rendered)


def _param(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return clean_text(str(collapse_rfc2231_value(value)))
    return clean_text(str(value))


def _clean_filename(name: Any) -> str | None:
    if not name:
        return None
    name = clean_text(unfold(str(name)))
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or None
