"""Who submitted a message, what kind it is (``bcc``, ``forward`` or ``redirect``, DESIGN.md), and whether a
machine sent it (auto-replies, bounces and receipts, newsletters)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from linker.addresses import is_automated_address, is_automated_message
from linker.directory import UserInfo
from linker.errors import UnreadableMessageError
from linker.model import Direction, Kind, Original, ParsedMessage
from linker.settings import LinkerSettings
from linker.submitter import Candidate, pick_submitter


@dataclass(frozen=True, slots=True)
class Submission:
    """The user the mail came in for, and where we saw them (``envelope``, ``From``, ``X-Forwarded-To``…)."""

    address: str
    via: str
    user: UserInfo


def find_submission(candidates: list[Candidate], users: Mapping[str, UserInfo]) -> Submission | None:
    """The submitting user, or ``None`` when no candidate address belongs to one."""
    picked = pick_submitter(candidates, users)
    if picked is None:
        return None
    return Submission(picked.address, picked.source, users[picked.address])


def proven_submission(address: str, proof: str | None, users: Mapping[str, UserInfo]) -> Submission | None:
    """The submission the gateway proved (``address`` by ``proof``), or ``None`` when the address is no longer a
    user's."""
    user = users.get(address)
    return Submission(address, proof or "gateway", user) if user is not None else None


def sender_of(message: ParsedMessage, settings: LinkerSettings) -> str | None:
    """The normalised address in the message's own From."""
    for mailbox in message.from_:
        if mailbox.address:
            return settings.normalize(mailbox.address)
    return None


def sender_header_of(message: ParsedMessage, settings: LinkerSettings) -> str | None:
    """The normalised address in the message's Sender header: who sent it on behalf of the mailbox in From."""
    return settings.normalize(message.sender.address) if message.sender and message.sender.address else None


def classify(
    message: ParsedMessage,
    forwarded: Original | None,
    submission: Submission | None,
    *,
    users: Mapping[str, UserInfo],
    settings: LinkerSettings,
) -> tuple[Kind, Direction]:
    """Kind and direction, given the forwarded original (if any) and the submission (if any)."""
    # The user wrote it (From), or sent it for the mailbox in From (``Sender:`` is theirs): a shared mailbox's "send
    # on behalf" (``From: Sales <sales@…>``, ``Sender: Anna``), a delegate writing for a colleague.
    senders = [users.get(a) for a in (sender_of(message, settings), sender_header_of(message, settings)) if a]
    theirs = submission is not None and any(u is not None and u.id == submission.user.id for u in senders)
    if submission is not None and not theirs:
        # Someone else's mail that reached us through the user's mailbox: a rule, a redirect, a Gmail copy
        return "redirect", "incoming"
    if forwarded is None:
        return "bcc", "outgoing"
    original_sender = (
        settings.normalize(forwarded.from_.address) if forwarded.from_ and forwarded.from_.address else None
    )
    if original_sender is not None and (
        (submission is not None and original_sender == submission.address)
        or original_sender in users
        or settings.is_org_domain(original_sender)
    ):
        return "forward", "outgoing"
    return "forward", "incoming"


# ---- automated mail ----------------------------------------------------------------------------------------------

#: "auto", "automatic", "automatische", "automatyczna", "automaattinen", "автоматический", "αυτόματη"… (folded).
_AUTO = r"(?:auto(?:ma\w*|m\.)?|авто(?:мат\w*)?|αυτοματ\w*|samodejn\w*|otomatik)"
#: "reply", "Antwort", "odpověď", "răspuns", "válasz", "svar", "ответ"… (folded: no accents, lower case).
_REPLY = (
    r"(?:repl(?:y|ies)|respon(?:se|der)|answer|antwort|antwoord|reponse|respuesta|risposta|resposta|odpowiedz"
    r"|odpoved|raspuns|vastaus|valasz|svar|besvarelse|odgovor|atsakymas|atbilde|vastus|yan[i\u0131]t|cevap"
    r"|ответ|отговор|відповід\w*|απαντηση)"
)
#: "Out of office", "Abwesenheitsnotiz", "Mimo kancelář", "Poza biurem", "În afara biroului"… (folded).
_AWAY = (
    r"(?:out of (?:the )?office|abwesenheit\w*|absen(?:t|ce) du bureau|fuera de (?:la )?oficina"
    r"|fuori (?:sede|ufficio)|fora do escritorio|afwezig\w*|poza biurem|mimo (?:kancelar\w*|uradu?)"
    r"|in afara biroului|poissa toimistolta|hazon kivul|izvan ureda)"
)
_CJK = r"(?:自[动動](?:回[复覆復]|答复|応答|返信)|자동\s*(?:회신|응답))"
#: An auto-reply's subject: the phrase first (after any "[External]" tags a mail server puts in front), then the
#: end, a colon or a space. "Re: Automatic reply: …" is a person answering one, and "Fwd: …" a person forwarding it.
_AUTO_REPLY_SUBJECT = re.compile(
    rf"^(?:\[[^\]]{{0,40}}\]\s*)*(?:{_AUTO}[\s-]*{_REPLY}|{_REPLY}\s+{_AUTO}|{_AWAY}|{_CJK})(?=$|[\s:\uff1a(\-\u2013\u2014])"
)
#: ``X-Auto-Response-Suppress`` values that Exchange puts on its own out-of-office replies (``All``), and senders
#: that want no auto-reply (``OOF``, ``AutoReply``); ``DR``, ``NDR``, ``RN`` and ``NRN`` alone are about receipts.
_SUPPRESS = frozenset({"all", "oof", "autoreply"})


def _fold(text: str) -> str:
    """Lower case without accents: ``Automatická odpověď`` → ``automaticka odpoved``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def auto_reply_subject(subject: str | None) -> bool:
    """Whether a subject is an auto-reply's (``Automatic reply:``, ``Automatyczna odpowiedź:``, ``Out of Office``,
    ``Abwesenheitsnotiz``, ``Răspuns automat:``…, in any case; RFC 2047 is already decoded by the parser)."""
    return bool(subject and _AUTO_REPLY_SUBJECT.match(_fold(subject.strip())))


@dataclass(frozen=True, slots=True)
class _Marks:
    """What a message's own headers say about who made it: a bounce or receipt, an auto-reply, a list or bulk
    sender, or an automatic process of some other kind (which may be a mailbox rule forwarding mail)."""

    report: str | None = None
    reply: str | None = None
    bulk: str | None = None
    machine: str | None = None

    @property
    def person_free(self) -> str | None:
        """Why nobody wrote this message, if its marks say so whatever made it reach us."""
        return self.report or self.reply or self.bulk

    @property
    def any(self) -> str | None:
        return self.person_free or self.machine


def _marks(message: ParsedMessage, settings: LinkerSettings) -> _Marks:
    report = reply = bulk = machine = None
    for name, value in message.headers:
        key, val = name.lower(), " ".join(value.split()).lower()
        if key in {"list-id", "list-unsubscribe"}:
            bulk = bulk or ("List-Id header" if key == "list-id" else "List-Unsubscribe header")
        elif key == "precedence" and val in {"bulk", "list", "junk"}:
            bulk = bulk or f"Precedence: {val}"
        elif key == "precedence" and val == "auto_reply":
            reply = reply or f"Precedence: {val}"
        elif key == "auto-submitted" and val.startswith("auto-replied"):
            reply = reply or f"Auto-Submitted: {val}"
        elif key in {"x-autoreply", "x-autorespond", "x-auto-reply"}:
            reply = reply or f"{key.title()} header"
        elif key == "x-auto-response-suppress" and _SUPPRESS & set(re.split(r"[\s,]+", val)):
            machine = machine or f"X-Auto-Response-Suppress: {val}"
        elif key == "auto-submitted" and val and val != "no" and not val.startswith("auto-forwarded"):
            # auto-generated, auto-notified: a machine wrote it (for a forward, maybe the mailbox rule that sent it)
            machine = machine or f"Auto-Submitted: {val}"
        elif key == "x-ms-exchange-message-is-ndr":
            report = report or "Exchange non-delivery report"
        elif key == "return-path" and val.strip("<> ") == "":
            report = report or "null sender (Return-Path: <>)"
    content_type = (message.header("Content-Type") or "").lower()
    if message.is_report or content_type.startswith("multipart/report"):
        report = (
            "read receipt (multipart/report, disposition-notification)"
            if "disposition-notification" in content_type
            else "delivery status notification (multipart/report)"
        )
    sender = sender_of(message, settings)
    if report is None and sender is not None and is_automated_address(sender):
        report = f"automated sender {sender}"
    if reply is None and auto_reply_subject(message.subject):
        reply = f"auto-reply subject '{_clip(message.subject)}'"
    return _Marks(report, reply, bulk, machine)


def _clip(text: str | None, length: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


#: Parses a message (``linker.parse.parse_message``); passed in, as ``linker.unwrap`` takes it.
ParseFn = Callable[[bytes], ParsedMessage]


@dataclass(frozen=True, slots=True)
class Automation:
    """Why a machine, not a person, sent the mail that reached us (``message``: ``[linker] automated`` decides
    what becomes of it), and why the email filed makes no leads (``leads``); ``None`` when it does not apply."""

    message: str | None
    leads: str | None


def find_automation(
    message: ParsedMessage, kind: Kind, original: Original, *, parse: ParseFn, settings: LinkerSettings
) -> Automation:
    """Whether the mail is automated, judged on the message that reached us.

    Mail that reached a user (a redirect) or that the user sent (BCC) is automated by any mark of its own: a bounce
    or read receipt, an auto-reply (``Auto-Submitted``, an auto-reply subject in any of ~25 languages), list or
    bulk headers, a null or ``noreply``-style sender. A user's forward is the user's own message: the headers of the
    mail it carries never make it automated, for a salesperson may forward a newsletter or an out-of-office reply
    on purpose (it is filed, but makes no leads). Only marks on the forward itself count, and when they say that a
    mailbox rule made the forward (``Auto-Submitted: auto-forwarded`` or ``auto-generated``, Exchange's rule
    headers), the forwarded message decides."""
    own = _marks(message, settings)
    # What has always kept leads away, ``Auto-Submitted: auto-forwarded`` included
    legacy = is_automated_message(message.headers)
    if kind != "forward":
        why = own.any
        return Automation(why, why or legacy)
    if own.person_free is not None:
        return Automation(own.person_free, own.person_free)
    inner = _forwarded_reason(message, original, parse=parse, settings=settings)
    if inner is not None and (own.machine is not None or _auto_forwarded(message)):
        why = f"auto-forwarded by a mailbox rule: {inner}"
        return Automation(why, why)
    leads = f"forwarded message is automated: {inner}" if inner is not None else legacy
    return Automation(None, leads)


def _auto_forwarded(message: ParsedMessage) -> bool:
    """Whether the forward says a mailbox rule made it (``Auto-Submitted``, Exchange's headers)."""
    submitted = (message.header("Auto-Submitted") or "").strip().lower()
    if submitted.startswith("auto-forwarded"):
        return True
    if (message.header("X-MS-Exchange-Organization-AutoForwarded") or "").strip().lower() == "true":
        return True
    return "mailbox rules agent" in (message.header("X-MS-Exchange-Generated-Message-Source") or "").lower()


def _header_block(raw: bytes) -> bytes:
    """The header block of a message, without its body: its marks are all in there, and a forwarded message
    with large attachments is not parsed twice."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return raw[: min(ends)] + b"\r\n\r\n" if ends else raw


def _forwarded_reason(
    message: ParsedMessage, original: Original, *, parse: ParseFn, settings: LinkerSettings
) -> str | None:
    """Why the forwarded message is automated: its own headers when it is attached, else what the inline block
    shows (its sender and subject)."""
    if original.forwarded == "attached" and message.attached_messages:
        try:
            return _marks(parse(_header_block(message.attached_messages[0])), settings).any
        except UnreadableMessageError:
            return None
    sender = settings.normalize(original.from_.address) if original.from_ and original.from_.address else None
    if sender is not None and is_automated_address(sender):
        return f"automated sender {sender}"
    if auto_reply_subject(original.subject):
        return f"auto-reply subject '{_clip(original.subject)}'"
    return None
