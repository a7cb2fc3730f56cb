"""Find the original email inside a forward, and the chain of forwards around it.

A forward may carry a forward, inline or as an attached ``message/rfc822`` part, in any mix ("FW: FW:", "Fwd: WG:",
an attached message that holds an inline forward, an inline forward of a mail that had one attached). Every level is
read, outermost first, up to ``MAX_DEPTH``. The original is the deepest level sent by someone outside the
organisation (the client at the bottom of what colleagues passed on), else the deepest level. A reply's quote
(``On … wrote:``, Outlook's block under ``RE:``) is no forward: it ends the chain as a ``quoted`` level, whose
people still take part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from linker import budget
from linker.errors import UnreadableMessageError
from linker.forwards.html import html_to_text
from linker.forwards.inline import find_inline_quote
from linker.forwards.mailboxes import parse_mailboxes
from linker.forwards.subject import strip_forward_prefix
from linker.model import ChainHow, ChainLevel, InlineForward, Mailbox, Original, ParsedMessage
from linker.threads import thread_keys

#: Levels read below the outer message: a forward of a forward… is fine; a hundred levels is an attack. Each level
#: costs one pass over what is left of the text, so the work is at most this many passes over the body.
MAX_DEPTH = 10
#: Characters of text read below the first level of a chain (the rest of the mail keeps the rest): each level
#: re-reads what is below it, so ten levels of a 25 MB body took 6 s; mail quoted a megabyte down is no forward.
MAX_LEVEL_CHARS = 1 << 20

ParseFn = Callable[[bytes], ParsedMessage]
IsInternal = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Chain:
    """What a message carries: the forwarded original (``None`` when nothing is forwarded), every level, and the
    outermost forwarded message whole (what one level of unwrapping gives; ``bench/forward_eval.py`` reads it)."""

    original: Original | None
    levels: tuple[ChainLevel, ...]
    outermost: Original | None = None


@dataclass(frozen=True, slots=True)
class _Holder:
    """The message the next level is looked for in: its text, and the MIME message whose attachments are unread."""

    text: str | None
    html: str | None
    subject: str | None
    sender: Mailbox | None
    date: datetime | None
    #: The MIME message whose ``message/rfc822`` parts are the next level when the text holds no forward.
    mime: ParsedMessage | None


def _text(value: str | None) -> str | None:
    """Trimmed text with ``\n`` line ends, or ``None`` when empty."""
    if value is None:
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n").strip() or None


def _aware(value: datetime | None) -> datetime | None:
    # A forward's header block rarely says its zone; reading it as UTC beats losing the date.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def author_of(message: ParsedMessage) -> Mailbox | None:
    """Who wrote the message: its From, unless a group or list rewrote that to its own address for DMARC
    (``'Jan Nowak' via Sales <sales@example.com>``, Google Groups, Mailman). The author is then in
    ``X-Original-From`` (Google Groups), else in a Reply-To of one other address (Mailman)."""
    sender = message.from_[0] if message.from_ else None
    if sender is None or " via " not in (sender.name or "").casefold():
        return sender
    original = parse_mailboxes(message.header("X-Original-From") or "")
    if len(original) == 1 and original[0].address:
        return original[0]
    reply_to = [m for m in message.reply_to if m.address and m.address.casefold() != (sender.address or "").casefold()]
    return reply_to[0] if len(reply_to) == 1 and len(message.reply_to) == 1 else sender


def original_of(
    message: ParsedMessage,
    *,
    note: str | None = None,
    forwarded: str | None = None,
    chain: tuple[ChainLevel, ...] = (),
) -> Original:
    """The message itself as an ``Original`` (BCC, redirect, or an attached message), with the ``chain`` it carries
    (a reply's quote, the forwards in someone else's mail)."""
    return Original(
        from_=author_of(message),
        to=message.to,
        cc=message.cc,
        date=_aware(message.date),
        subject=message.subject,
        message_id=message.message_id,
        body=_text(message.text),
        html=message.html,
        note=note,
        forwarded=forwarded,
        thread_ids=thread_keys(message.in_reply_to, message.references),
        chain=chain,
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


def _holder(message: ParsedMessage) -> _Holder:
    sender = message.from_[0] if message.from_ else None
    return _Holder(message.text, message.html, message.subject, sender, _aware(message.date), message)


def _level(how: ChainHow, style: str | None, holder: _Holder, found: Original) -> ChainLevel:
    return ChainLevel(
        how=how,
        style=style,
        forwarded_by=holder.sender,
        forwarded_at=holder.date,
        forward_subject=holder.subject,
        from_=found.from_,
        to=found.to,
        cc=found.cc,
        date=found.date,
        subject=found.subject,
        message_id=found.message_id,
    )


def _quote_in(holder: _Holder, strict: bool) -> InlineForward | None:
    """The first quoted message in the holder's text, else in its HTML (Gmail's ``gmail_quote`` div may be the only
    place a forward's header block is written)."""
    limit = MAX_LEVEL_CHARS if strict else None  # strict: below the first level
    found = find_inline_quote((holder.text or "")[:limit], outer_subject=holder.subject, strict=strict)
    if found is None and holder.html:
        found = find_inline_quote(html_to_text(holder.html)[:limit], outer_subject=holder.subject, strict=strict)
    return found


def _attached(holder: _Holder, parse: ParseFn) -> ParsedMessage | None:
    """The first attached message of the holder's MIME message, parsed; ``None`` when there is none to read."""
    if holder.mime is None or holder.mime.is_report or not holder.mime.attached_messages:
        return None
    try:
        return parse(holder.mime.attached_messages[0])
    except UnreadableMessageError:
        return None  # an unreadable attachment is still stored; the outer message is what we file


Step = tuple[ChainLevel, Original, _Holder]


def _step(holder: _Holder, parse: ParseFn, first: bool) -> Step | ChainLevel | None:
    """The next level below ``holder``: a forward (with what to look in next), a reply's quote, or ``None``."""
    if holder.mime is not None and holder.mime.is_report:
        return None  # a bounce or receipt quotes the mail it is about; it never forwards it
    found = _quote_in(holder, strict=not first)
    if found is not None and found.kind == "forward":
        original = _from_inline(found, found.note)
        below = _Holder(found.body, None, found.subject_as_written, original.from_, original.date, holder.mime)
        return _level("inline", found.style, holder, original), original, below
    inner = _attached(holder, parse)
    if inner is not None:
        note = _text(holder.text) if first else None
        original = original_of(inner, note=note, forwarded="attached")
        return _level("attached", "rfc822", holder, original), original, _holder(inner)
    if found is not None:
        return _level("quoted", found.style, holder, _from_inline(found, None))
    return None


def read_chain(message: ParsedMessage, *, parse: ParseFn, is_internal: IsInternal) -> Chain:
    """Every level the message carries, outermost first, and the original among them (see the module's doc)."""
    holder = _holder(message)
    levels: list[ChainLevel] = []
    originals: list[Original] = []
    chosen = -1  # the deepest level with an external sender so far
    for depth in range(MAX_DEPTH):
        budget.check()
        step = _step(holder, parse, first=depth == 0)
        if step is None:
            break
        if isinstance(step, ChainLevel):
            levels.append(step)
            break
        level, original, holder = step
        levels.append(level)
        originals.append(original)
        sender = original.from_.address if original.from_ and original.from_.address else None
        if sender is not None and not is_internal(sender.lower()):
            chosen = len(originals) - 1
        # Only the deepest external level and the last one can still be the original (and the first is kept as
        # the outermost): drop the others' bodies, so ten levels of a 25 MB message keep at most three copies.
        for i in range(1, len(originals) - 1):
            if i != chosen and originals[i].body is not None:
                originals[i] = replace(originals[i], body=None, html=None)
    if not originals:
        return Chain(None, tuple(levels))
    picked = originals[chosen if chosen >= 0 else len(originals) - 1]
    original = replace(picked, note=originals[0].note, chain=tuple(levels))
    return Chain(original, tuple(levels), replace(originals[0], chain=tuple(levels)))


def unwrap(message: ParsedMessage, *, parse: ParseFn, is_internal: IsInternal) -> Original | None:
    """The forwarded original, or ``None`` when the message carries no forward. The note is the outermost one."""
    return read_chain(message, parse=parse, is_internal=is_internal).original


#: Addresses read from one chain level (its From, To and Cc): a header block of 10,000 recipients, ten levels deep,
#: must not cost 100,000 lookups; the pipeline's own cap on participants applies after this one.
MAX_LEVEL_PEOPLE = 500


def level_people(original: Original) -> tuple[Original, ...]:
    """Each level of the original's chain as an ``Original`` that holds its sender, To and Cc as Cc, for matching:
    every level's people take part in the message, after the original's own. As Cc, because the filed message has
    one sender and its own recipients; a quoted client is no sender of the user's reply (``original.chain`` says who
    was what on which level)."""
    out = []
    for level in original.chain:
        people = ((level.from_,) if level.from_ else ()) + level.to + level.cc
        out.append(Original(None, (), people[:MAX_LEVEL_PEOPLE], level.date, level.subject, None, None, None, None))
    return tuple(out)
