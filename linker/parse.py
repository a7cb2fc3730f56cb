"""Read raw message bytes into a ``ParsedMessage``; the only module that imports flanker.

flanker (``flanker.mime``, ``flanker.addresslib``) reads the message first. When it raises, the stdlib ``email``
package (``policy.default``) reads it instead, and the message says so (``parser="email"``, flanker's error in
``defects``). Both readers build the same small part tree, so bodies, charsets and attachments are decided by one
piece of code whichever parser read the structure.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import hashlib
import logging
import quopri
import re
import sys
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from linker import budget
from linker.encoded_words import decode_encoded_words, has_undecodable_words
from linker.errors import UnreadableMessageError
from linker.model import Attachment, Mailbox, ParsedMessage
from linker.rawbounds import (
    ADDRESS_HEADERS,
    DIRECT_BODY_BYTES,
    MAX_HEADER_FIELDS,
    MAX_PARTS,
    Elided,
    bound_header_fields,
    declared_boundaries,
    delimiter_lines,
    escape_false_delimiters,
    is_single_part,
    skeleton,
    split_head,
)

#: What undeclared 8-bit text is read as when it is not UTF-8. Our people write Polish, Czech and Romanian:
#: cp1250 reads all three, where latin-1 would turn ą, ś, ź into ¹, œ, Ÿ.
LEGACY_CHARSET = "cp1250"
#: MIME nesting deeper than this is an attack, not a message: the parts below are dropped (and recorded).
MAX_DEPTH = 50
#: Characters of one header value decoded (RFC 2047 words) for the linker; the rest is dropped there (the raw
#: message keeps it). flanker's decoder is quadratic in a value's length: 4 MB of encoded words took 20 s.
MAX_HEADER_DECODE = 64 * 1024
#: Characters of an HTML body read for its text (and for inline forwards); the rest is ignored there, and the
#: message keeps all of it. 1 Mi characters is hundreds of pages of mail.
MAX_HTML_CHARS = 1 << 20
#: HTML is parsed (by lexbor) in pieces of this many tags. The HTML tree builder, lexbor's as every browser's, is
#: quadratic in nesting depth (100k ``<div>``: 12 s) and can clone unclosed formatting tags into every paragraph
#: (70 KB became 12 million elements): pieces bound both. Open elements carry over from piece to piece.
HTML_PIECE_TAGS = 1_000
#: Nodes (elements and texts) walked per HTML body; past this the text stops (ordinary mail has far fewer than
#: ``MAX_HTML_CHARS`` allows: ~120k). Only cloned formatting tags reach it.
MAX_HTML_NODES = 400_000
#: Open elements re-opened at the start of the next piece (innermost ones when there are more).
HTML_CARRIED_ELEMENTS = 64

_CLEAN = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\udc80-\udcff]")
_FOLD = re.compile(r"\r?\n|\r")
_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_HEADER_START = re.compile(rb"(?:From [^\r\n]*\r?\n)?[!-9;-~]+[ \t]*:")
_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:+-]+)""", re.IGNORECASE)
_COMMENT_NAME = re.compile(r"^[^\s()<>\"]+@[^\s()<>\"]+\s*\(([^()]*)\)\s*$")
_GROUP_LABEL = re.compile(r'^\s*[^"<>@,;:()]*:\s*')
_ASCII_PROBE = b"From: a+b~c@d.e\r\n=?\t"


# ---- public API --------------------------------------------------------------------------------------------------


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message with flanker, or with the stdlib when flanker raises; ``UnreadableMessageError`` if neither."""
    _check_readable(raw)
    # Both bounds below look for the declared boundaries (a scan of the whole message): once, unless the first one
    # cut header fields (which may have declared some).
    boundaries = declared_boundaries(raw) if raw.count(b"\n") > MAX_HEADER_FIELDS else set()
    raw, dropped = bound_header_fields(raw, boundaries)
    raw, escaped = escape_false_delimiters(raw, declared_boundaries(raw) if dropped else boundaries)
    context = _Context(raw)
    lib = _flanker()  # outside the try: a flanker that cannot be imported is our bug, not the message's
    try:
        reading = _read_with_flanker(context, lib)
    except budget.CpuLimitExceeded:
        raise
    except Exception as exc:
        flanker_error = f"flanker: {_describe(exc)}"
        try:
            reading = _read_with_email(context)
        except budget.CpuLimitExceeded:
            raise
        except Exception as fallback_exc:
            raise UnreadableMessageError(f"{flanker_error}; email: {_describe(fallback_exc)}") from fallback_exc
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
    return _assemble(reading, context)


#: Header values whose mailboxes are remembered: the same people write and are written to again and again, and
#: flanker's address grammar (ply) costs more than the rest of reading a small message's headers.
ADDRESS_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def parse_addresses(value: str) -> tuple[Mailbox, ...]:
    """Mailboxes in an address header value (RFC 2047 names decoded); a name without an address is kept.

    The result is immutable, so equal values share one (cached) result."""
    value = _FOLD.sub("", value).strip()
    if not value:
        return ()
    if has_undecodable_words(value, limit=MAX_HEADER_DECODE):
        # flanker decodes a name made of encoded words itself, guessing at unknown charsets and dropping broken
        # base64; such a word is shown as written instead.
        return _merge_outlook_names(_email_addresses(value))
    lib = _flanker()
    try:
        with lib.lock:
            parsed, unparsed = lib.address.parse_list(value, strict=False, as_tuple=True)
    except Exception:  # flanker on text from anywhere in a message: never let it take the message down
        parsed, unparsed = [], [value]
    mailboxes = tuple(mailbox for item in parsed if (mailbox := _flanker_mailbox(item)) is not None)
    if not unparsed and not ("(" in value and any(mailbox.name is None for mailbox in mailboxes)):
        return mailboxes
    # flanker gives up on the whole list for one odd entry ("Novák, Jan <jan@x.cz>", a group, a bare name), and
    # drops names written as comments ("MAILER-DAEMON@x.pl (Mail Delivery System)"): read it entry by entry.
    out: list[Mailbox] = []
    for item in _split_address_list(value):
        out.extend(_parse_address_item(item, lib))
    return _merge_outlook_names(out)


# ---- flanker, imported quietly ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Flanker:
    """The flanker entry points we use (untyped: ``Any`` stays in this module)."""

    mime: Any
    address: Any
    #: flanker's ply parsers keep state on the parser object: one thread at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOAD_LOCK = threading.Lock()
_LOADED: list[_Flanker] = []


def _flanker() -> _Flanker:
    # Imported on first use, not with this module: importing linker.parse stays cheap for the gateway.
    if not _LOADED:
        with _LOAD_LOCK:
            if not _LOADED:
                _LOADED.append(_import_flanker())
    return _LOADED[0]


def _import_flanker() -> _Flanker:
    """Import flanker without output, without writing parser tables, and without warnings."""
    import ply.yacc  # noqa: PLC0415

    original = ply.yacc.yacc

    def quiet_yacc(*args: Any, **kwargs: Any) -> Any:
        # flanker 0.9.11 ships tables built by ply 3.10, whose signatures ply 3.11 rejects: it then rebuilds them,
        # logs "Symbol ... is unreachable" through flanker's logger (to stderr when logging is not configured) and
        # rewrites them in site-packages, where processes importing at once race on half-written files. Building
        # all five in memory takes ~20 ms, so never read or write table files, and log nothing.
        caller = sys.modules[sys._getframe(1).f_globals["__name__"]]
        kwargs.update(
            module=caller,
            tabmodule=f"{__name__}_no_ply_tables",  # not importable: ply builds the tables in memory
            write_tables=False,
            debug=False,
            errorlog=ply.yacc.NullLogger(),
        )
        return original(*args, **kwargs)

    # flanker logs expected failures (every odd address) at WARNING; they surface as defects here instead.
    flanker_log = logging.getLogger("flanker")
    flanker_log.addHandler(logging.NullHandler())
    flanker_log.propagate = False
    ply.yacc.yacc = quiet_yacc
    try:
        with warnings.catch_warnings():
            # cgi and imghdr deprecations (webob, flanker) and invalid escapes in flanker's source.
            warnings.simplefilter("ignore")
            import flanker.addresslib.address  # noqa: PLC0415
            import flanker.metrics  # noqa: PLC0415
            import flanker.mime  # noqa: PLC0415
    finally:
        ply.yacc.yacc = original
    # flanker's statsd client starts itself from FLANKER_METRICS_* variables; ``False`` keeps it off for good.
    flanker.metrics._client = False
    return _Flanker(mime=flanker.mime, address=flanker.addresslib.address)


# ---- reading: a part tree both parsers build ---------------------------------------------------------------------


@dataclass(slots=True)
class _Part:
    """One MIME part as either parser read it; leaves carry their transfer-decoded bytes."""

    content_type: str
    charset: str | None = None
    disposition: str | None = None
    filename: str | None = None
    content_id: str | None = None
    data: bytes = b""
    children: list[_Part] = field(default_factory=list)
    #: ``message/rfc822``: the enclosed message's raw bytes.
    message: bytes | None = None


@dataclass(slots=True)
class _Reading:
    headers: list[tuple[str, str]]
    mailboxes: dict[str, list[Mailbox]]
    root: _Part
    parser: str
    defects: list[str] = field(default_factory=list)


class _Context:
    """The raw bytes, and the charset their undeclared 8-bit text is read in (worked out once, when needed)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.utf8 = _is_utf8(raw)
        self.linesep = "\r\n" if b"\r\n" in raw[:4096] else "\n"
        self._legacy: str | None = None
        #: Part bodies flanker was not given (``rawbounds.skeleton``), put back as each part is read.
        self.elided = Elided()

    @property
    def legacy(self) -> str:
        if self._legacy is None:
            self._legacy = _legacy_charset(self.raw)
        return self._legacy

    @property
    def codec(self) -> str:
        """The charset the whole message is read in before its parts' own charsets apply."""
        return "utf-8" if self.utf8 else self.legacy


def _check_readable(raw: bytes) -> None:
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


def _read_with_flanker(context: _Context, lib: _Flanker) -> _Reading:
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
    reading = _Reading([], defaultdict(list), _Part("text/plain"), "flanker")
    for name, value in message.headers.iteritems(raw=True):
        budget.check()
        if isinstance(value, str):
            raw_value = _repair_8bit(value, context.codec)
            decoded = _decode_words(raw_value)
            if name.lower() in ADDRESS_HEADERS:
                reading.mailboxes[name.lower()].extend(parse_addresses(raw_value))
        else:  # Content-Type and friends: (value, params), already decoded
            decoded = _render_params(value)
        reading.headers.append((name, _clean(_unfold(str(decoded)))))
    reading.root = _flanker_part(message, context, reading.defects, 0, body=body)
    return reading


def _flanker_part(part: Any, context: _Context, defects: list[str], depth: int, *, body: bytes | None = None) -> _Part:
    """One part as flanker read it; ``body``: the part's bytes when flanker was given its header only."""
    budget.check()
    content_type = part.content_type
    disposition = part.content_disposition.value
    node = _Part(
        content_type=str(content_type.value).lower(),
        charset=_param(content_type.params.get("charset")),
        disposition=str(disposition).lower() if disposition else None,
        filename=_clean_filename(part.detected_file_name),
        content_id=_strip_id(part.headers.get("Content-Id")),
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
        body = context.elided.restore(str(part._container.read_body()).encode(context.codec, "surrogateescape"))
    data = _transfer_decode(body, encoding, defects)
    if content_type.is_message_container():
        node.message = data
    else:
        node.data = data
    return node


def _read_with_email(context: _Context) -> _Reading:
    if delimiter_lines(context.raw) > MAX_PARTS:
        raise ValueError(f"more than {MAX_PARTS} MIME parts")
    message = message_from_bytes(context.raw, policy=policy.default)
    reading = _Reading([], defaultdict(list), _Part("text/plain"), "email")
    for name, value in message.raw_items():
        raw_value = _header_text(str(value), context)
        if name.lower() in ADDRESS_HEADERS:
            reading.mailboxes[name.lower()].extend(_email_addresses(_unfold(raw_value)))
        reading.headers.append((name, _clean(_unfold(_decode_words(raw_value)))))
    reading.root = _email_part(message, context, reading.defects, 0)
    return reading


def _email_part(part: Message, context: _Context, defects: list[str], depth: int) -> _Part:
    budget.check()
    content_type = part.get_content_type().lower()
    filename = part.get_filename()
    node = _Part(
        content_type=content_type,
        charset=_param(part.get_param("charset")),
        disposition=part.get_content_disposition(),
        filename=_clean_filename(_decode_words(filename) if filename else None),
        content_id=_strip_id(_header_text(str(part.get("Content-ID", "")), context)),
    )
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if content_type in ("message/rfc822", "message/news") and isinstance(payload, list) and payload:
        node.message = _transfer_decode(_serialize(payload[0], context.linesep), encoding, defects)
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


def _salvage_multipart(part: Message, node: _Part, context: _Context, defects: list[str], depth: int) -> _Part:
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


def _assemble(reading: _Reading, context: _Context) -> ParsedMessage:
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


def _attached_messages(parts: list[_Part], defects: list[str]) -> tuple[bytes, ...]:
    """Each enclosed message's raw bytes, but not the empty or binary ones (``parse_message`` would refuse them)."""
    out: list[bytes] = []
    for part in parts:
        if part.message is None:
            continue
        try:
            _check_readable(part.message)
        except UnreadableMessageError as exc:
            defects.append(f"attached message skipped: {exc.reason}")
            continue
        out.append(part.message)
    return tuple(out)


def _walk(root: _Part) -> Iterator[_Part]:
    """Every part in document order; the inside of attached messages is theirs, not ours."""
    stack = [root]
    while stack:
        part = stack.pop()
        yield part
        stack.extend(reversed(part.children))


def _is_body(part: _Part) -> bool:
    return (
        part.content_type in ("text/plain", "text/html")
        and not part.children
        and part.message is None
        and part.filename is None
        and part.disposition != "attachment"
    )


def _is_attachment(part: _Part) -> bool:
    return not part.content_type.startswith("multipart/") and part.message is None and not _is_body(part)


def _bodies(part: _Part, context: _Context, defects: list[str]) -> tuple[list[str], list[str]]:
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
    text = _decode_text(part.data, part.charset, context, defects)
    return ([text], []) if part.content_type == "text/plain" else ([], [text])


def _attachment(part: _Part, html: str) -> Attachment:
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
        return _simple_html_to_text(html)
    try:
        text: str = html_to_text(html)
    except Exception as exc:  # someone else's bug must not lose the message
        defects.append(f"html_to_text: {_describe(exc)}")
        return _simple_html_to_text(html)
    return text


#: ``walk_html`` events: an element starts (value: its tag, node: it), ends (value: its tag), or text (value).
START, END, TEXT = 0, 1, 2
_MARKUP = re.compile(r"<(?:!--|[A-Za-z])")
_WRAPPERS = frozenset({"html", "head", "body"})
# Ends every piece but the last: a comment goes where the next node would, so its ancestors are the open elements.
_CUT = "<!--mailassist:cut-->"
#: Elements without content or end tag: ``walk_html`` gives them no ``END`` (as the source has none).
VOID_ELEMENTS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)


def walk_html(html: str) -> Iterator[tuple[int, str, LexborNode | None]]:
    """Events of an HTML body as a browser would build it: the first ``MAX_HTML_CHARS``, in bounded work."""
    carried: list[str] = []
    walked = 0
    pieces = _html_pieces(html[:MAX_HTML_CHARS])
    piece = next(pieces, None)
    while piece is not None:
        budget.check()
        following = next(pieces, None)
        reopen = "".join(f"<{tag}>" for tag in carried if tag not in _WRAPPERS)
        root = LexborHTMLParser(reopen + piece + (_CUT if following is not None else "")).root
        if root is None:
            return
        still_open = _open_at_end(root) if following is not None else {}
        for event in _html_events(root, carried, still_open):
            walked += event[0] != END
            if walked > MAX_HTML_NODES:
                return
            yield event
        inner = [tag for tag in still_open.values() if tag not in _WRAPPERS]
        carried = [tag for tag in still_open.values() if tag in _WRAPPERS] + inner[-HTML_CARRIED_ELEMENTS:]
        piece = following


def _html_pieces(html: str) -> Iterator[str]:
    """``html`` cut before every ``HTML_PIECE_TAGS``-th tag (not inside a comment)."""
    start = position = tags = 0
    while (found := _MARKUP.search(html, position)) is not None:
        if found.group() == "<!--":
            close = html.find("-->", found.end())
            if close < 0:
                break
            position = close + 3
            continue
        tags += 1
        if tags > HTML_PIECE_TAGS:
            yield html[start : found.start()]
            start, tags = found.start(), 1
        position = found.end()
    yield html[start:]


def _open_at_end(root: LexborNode) -> dict[int, str]:
    """The elements open when the piece ended (``_CUT``'s ancestors, else the last node's), outermost first, by
    ``mem_id``."""
    path: dict[int, str] = {root.mem_id: root.tag or ""}
    node = root.last_child
    while node is not None and node.is_element_node:
        path[node.mem_id] = node.tag or ""
        node = node.last_child
    return path


def _html_events(
    root: LexborNode, carried: list[str], still_open: dict[int, str]
) -> Iterator[tuple[int, str, LexborNode | None]]:
    """Depth-first events from the document element down, except for the elements carried over from the last piece
    (their starts were given then) and those still open at the end of this one (their ends come with the next)."""
    pending = list(reversed(carried))
    node: LexborNode | None = root
    depth = 0
    while node is not None:
        tag = node.tag or ""
        if node.is_text_node:
            text = node.text_content or ""
            yield TEXT, text.replace(_CUT, "") if still_open and _CUT in text else text, None
        elif node.is_element_node:
            if pending and pending[-1] == tag:
                pending.pop()
            elif not (carried and tag == "head" and node.child is None):  # the next piece's empty head
                yield START, tag, node
            child = node.child
            if child is not None:
                node, depth = child, depth + 1
                continue
            if tag not in VOID_ELEMENTS and not (carried and tag == "head"):
                yield END, tag, None
        while depth and node.next is None:
            node, depth = node.parent, depth - 1
            if node is None:
                return
            if node.mem_id not in still_open:
                yield END, node.tag or "", None
        node = node.next if depth else None


_BLOCKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"})
_HIDDEN = frozenset({"script", "style", "head", "title"})


def _simple_html_to_text(html: str) -> str:
    chunks: list[str] = []
    hidden = 0
    for kind, value, _ in walk_html(html):
        if kind == TEXT:
            if not hidden:
                chunks.append(value)
        elif value in _HIDDEN:
            hidden += 1 if kind == START else -1
        elif value in _BLOCKS:
            chunks.append("\n")
    lines = (" ".join(line.split()) for line in "".join(chunks).replace("\xa0", " ").splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ---- addresses ---------------------------------------------------------------------------------------------------


def _flanker_mailbox(item: Any) -> Mailbox | None:
    address = getattr(item, "address", None)
    if not hasattr(item, "mailbox") or not address:  # a URL, not a mailbox
        return None
    # flanker decodes a name that is all encoded words, not one that mixes them with plain text (``Jan
    # =?utf-8?q?Nov=C3=A1k?=``, as Python's EmailMessage and others write it), nor words inside quotes.
    name = _clean(_decode_words(str(item.display_name or ""))).strip()
    return Mailbox(name or None, _clean(str(address)))


def _strip_group(item: str) -> str:
    """An entry without its group label (``Team: a@b.c``) or null path (``<>``); empty when nothing is left."""
    item = _GROUP_LABEL.sub("", item, count=1).strip().rstrip(";").strip()
    return "" if item == "<>" else item


def _parse_address_item(entry: str, lib: _Flanker) -> list[Mailbox]:
    item = _strip_group(entry)
    if not item:
        return []
    try:
        with lib.lock:
            parsed, _ = lib.address.parse_list([item], strict=False, as_tuple=True)
    except Exception:
        parsed = []
    mailboxes = [mailbox for entry in parsed if (mailbox := _flanker_mailbox(entry)) is not None]
    if not mailboxes:
        return _email_addresses(item)
    comment = _COMMENT_NAME.search(item)
    if len(mailboxes) == 1 and mailboxes[0].name is None and comment and comment.group(1).strip():
        return [Mailbox(_clean(_decode_words(comment.group(1)).strip()), mailboxes[0].address)]
    return mailboxes


def _email_addresses(value: str) -> list[Mailbox]:
    """The stdlib's reading of an address list, keeping bare names (``Jan Novák``) as names."""
    out: list[Mailbox] = []
    for entry in _split_address_list(value):
        item = _strip_group(entry)
        if not item:
            continue
        pairs = [(name, address) for name, address in getaddresses([item]) if "@" in address]
        if pairs:
            out.extend(Mailbox(_clean(_decode_words(name)).strip() or None, _clean(address)) for name, address in pairs)
        elif "@" not in item:
            name = _decode_words(item).strip().strip('"').strip()
            if name:
                out.append(Mailbox(_clean(name), None))
    return out


def _split_address_list(value: str) -> list[str]:
    """Split at top-level commas and semicolons (not in quotes, angle brackets or comments)."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = comment = 0
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            comment += 1
        elif char == ")":
            comment = max(0, comment - 1)
        elif char == "<" and not comment:
            angle += 1
        elif char == ">" and not comment:
            angle = max(0, angle - 1)
        elif char in ",;" and not angle and not comment:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _merge_outlook_names(mailboxes: list[Mailbox]) -> tuple[Mailbox, ...]:
    """``Novák, Jan <jan@x.cz>`` as Outlook writes it: a one-word bare name, then a named address, is one mailbox."""
    out: list[Mailbox] = []
    for mailbox in mailboxes:
        previous = out[-1] if out else None
        if (
            previous is not None
            and previous.address is None
            and previous.name is not None
            and " " not in previous.name
            and mailbox.address is not None
            and mailbox.name is not None
        ):
            out[-1] = Mailbox(f"{previous.name}, {mailbox.name}", mailbox.address)
        else:
            out.append(mailbox)
    return tuple(out)


# ---- text and charsets -------------------------------------------------------------------------------------------


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        return codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None


def _ascii_compatible(codec: str) -> bool:
    try:
        return _ASCII_PROBE.decode(codec) == _ASCII_PROBE.decode("ascii")
    except (UnicodeError, LookupError):
        return False


def _legacy_charset(raw: bytes) -> str:
    """The first 8-bit charset the message declares (what its raw 8-bit headers are likely in), else cp1250."""
    for match in _CHARSET_PARAM.finditer(raw):
        codec = _codec(match.group(1).decode("ascii"))
        if codec is not None and codec not in ("utf-8", "ascii") and _ascii_compatible(codec):
            return codec
    return LEGACY_CHARSET


def _decode_text(data: bytes, charset: str | None, context: _Context, defects: list[str]) -> str:
    """Bytes as text: the declared charset, else UTF-8, else the message's legacy charset; never raises."""
    codec = _codec(charset)
    if charset and codec is None:
        defects.append(f"unknown charset {charset!r}")
    if codec is not None and codec != "ascii":
        try:
            return _clean(data.decode(codec))
        except UnicodeDecodeError:
            defects.append(f"text is not valid {charset}")
            if codec != "utf-8":
                return _clean(data.decode(codec, "replace"))
            return _clean(data.decode("utf-8", "replace"))
        except LookupError:  # pragma: no cover - lookup succeeded a moment ago
            pass
    try:
        return _clean(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _clean(data.decode(context.legacy, "replace"))


def _repair_8bit(value: str, codec: str) -> str:
    """A raw header read in the message's legacy charset that is really UTF-8 (a UTF-8 header on a cp1250 body)."""
    if codec == "utf-8" or value.isascii():
        return value
    try:
        return value.encode(codec, "surrogateescape").decode("utf-8")
    except UnicodeError:
        return value


def _header_text(value: str, context: _Context) -> str:
    """A raw header from the stdlib (8-bit bytes as surrogates) as text: UTF-8, else the message's legacy charset."""
    if not _SURROGATE.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(context.legacy, "replace")


def _decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded leniently (``linker.encoded_words``), in the first ``MAX_HEADER_DECODE``
    characters: bad padding, unknown charsets and split characters never raise."""
    return decode_encoded_words(value, limit=MAX_HEADER_DECODE)


def _transfer_decode(data: bytes, encoding: str, defects: list[str]) -> bytes:
    if encoding == "base64":
        return _b64decode(data, defects)
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def _b64decode(data: bytes, defects: list[str]) -> bytes:
    try:
        return binascii.a2b_base64(data)  # skips line breaks and stray characters
    except binascii.Error:
        pass
    # Missing or misplaced padding, or a truncated body: decode what is there.
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(data) % 4 == 1:
        data = data[:-1]
    defects.append("damaged base64")
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


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
        return _clean(str(collapse_rfc2231_value(value)))
    return _clean(str(value))


def _clean(value: str) -> str:
    """No NUL (PostgreSQL refuses it) and no lone surrogates (undecodable bytes) in text we hand on."""
    return _CLEAN.sub("\ufffd", value)


def _unfold(value: str) -> str:
    return _FOLD.sub("", value)


def _clean_filename(name: Any) -> str | None:
    if not name:
        return None
    name = _clean(_unfold(str(name)))
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name or None


def _strip_id(value: Any) -> str | None:
    if not value:
        return None
    text = _clean(_unfold(str(value))).strip()
    found = _ID.search(text)
    text = found.group(1) if found else text.strip("<>").strip()
    return text or None


def _ids(value: str) -> list[str]:
    """Message ids in angle brackets, in order; bare ``id@host`` words when nothing is bracketed."""
    found = _ID.findall(value)
    if not found:
        found = [word.strip("<>,;") for word in value.split() if "@" in word]
    return [_clean(item) for item in dict.fromkeys(found) if item]


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


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
