"""Reply attributions: ``On 28/10/2021 12:46, "John Doe" <john@x.com> wrote:`` and their translations.

They head quoted replies, and Outlook for Mac also writes them above forwards. The line may wrap (Missive puts the
address on a second line). We read the sender and the date text out of it; the caller decides what it means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from linker.forwards.mailboxes import clean_value, parse_mailbox
from linker.forwards.separators import WROTE
from linker.forwards.tables import longest_first
from linker.model import Mailbox

_VERBS = longest_first(WROTE)
_VERB_ALT = "|".join(re.escape(v) for v in _VERBS)
#: The line ends with a verb, then at most a short tail (Norwegian and Finnish put the date after it), then a colon.
_ENDS_WITH_VERB = re.compile(
    r"(?:^|[\s,>)\]])(?:" + _VERB_ALT + r")(?:[\s(][^\n]{0,120})?[ \t]*[:\uff1a]\s*$", re.IGNORECASE
)
#: The verb right before the colon: what an attribution without an address must end with.
_VERB_LAST = re.compile(r"(?:^|[\s,>)\]])(?:" + _VERB_ALT + r")[ \t]*[:\uff1a]\s*$", re.IGNORECASE)
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_TIME = re.compile(r"\d{1,2}[:.]\d{2}")
#: Words that open an attribution, so a wrapped one can be told from a paragraph that happens to end in "wrote:".
_INTRO = re.compile(
    r"^\s*(?:On|Le|El|Am|Em|Il giorno|Il|Dnia|W dniu|Dne|Op|Den|D\.|Pe|Dana)(?=\s)|^\s*[\d\"'«„“]"
    # Gmail in Polish and Czech starts with the weekday: "pon., 4 mar 2024 o 09:15 …", "po 4. 3. 2024 v 9:15 …"
    r"|^\s*(?:pon|wt|śr|czw|pt|sob|niedz)\.,?\s+\d|^\s*(?:po|út|st|čt|pá|so|ne)\s+\d{1,2}\.",
    re.IGNORECASE,
)
#: Words between the date and the sender (``Op … heeft John``, ``… użytkownik „John”``), dropped from both.
CONNECTORS = (
    "heeft", "schreef", "schrieb", "skrev", "používateľ", "uživatel", "odesílatel", "odosielateľ", "użytkownik",
    "пользователь", "користувач", "időpontban", "tarihinde",
)  # fmt: skip
_CONNECTOR_RE = re.compile(r"(?:^|\s)(?:" + "|".join(re.escape(c) for c in CONNECTORS) + r")(?=\s|$)")
_LEADING = re.compile(r"^\s*(?:On|Le|El|Am|Em|Il giorno|Dnia|W dniu|Dne|Op|Den|D\.|Pe|Dana)\s+", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“„«]\s*([^\"“”„«»]+?)\s*[\"”“»]")
#: Apple Mail in Polish puts the sender first and no verb last: ``Wiadomość napisana przez Jan <jan@x> w dniu
#: 04.03.2024, o godz. 09:15:``.
#: German puts the name after the verb, and Thunderbird writes no address: ``Am 04.03.24 um 09:15 schrieb Jan Novák:``.
_SCHRIEB_NAME = re.compile(r"^\s*Am\s+\d{1,2}\.\s?\d{1,2}\.\s?\d{2,4}\s[^\n]{0,60}?\bschrieb\s+[^\s:][^:\n]{0,80}:\s*$")
_WRITTEN_BY = re.compile(r"^\s*Wiadomość napisana przez\s+(?P<who>.+?)\s+w dniu\s+(?P<date>[^\n]{1,120}?)\s*:\s*$")


@dataclass(frozen=True, slots=True)
class Attribution:
    """A reply attribution spanning ``lines[start:end]``."""

    start: int
    end: int
    sender: Mailbox | None
    date_text: str | None


def _is_attribution(text: str) -> bool:
    # The colon first: it ends every attribution, and most lines of a body fail here without a regex search.
    if len(text) > 400 or not text.rstrip().endswith((":", "\uff1a")) or not _ENDS_WITH_VERB.search(text):
        return False
    # "I wrote this for you:" is prose. An attribution names an address, or a time and ends with its verb
    # ("On 4 March at 10:00, John wrote:", but not "On Monday at 10:00 I wrote to them:").
    return bool(
        _ADDRESS.search(text) or (_TIME.search(text) and (_VERB_LAST.search(text) or _SCHRIEB_NAME.match(text)))
    )


def find_attribution(lines: list[str], start: int) -> Attribution | None:
    """The attribution starting at ``lines[start]`` (wrapped over up to three lines), or ``None``."""
    first = lines[start].strip()
    if not first:
        return None
    joined = first
    for end in range(start + 1, min(start + 3, len(lines)) + 1):
        # The colon first, as in _is_attribution: most lines of a body end without one
        written_by = _WRITTEN_BY.match(joined) if joined.endswith(":") and len(joined) <= 400 else None
        if written_by is not None:
            sender = parse_mailbox(clean_value(written_by.group("who")))
            return Attribution(start=start, end=end, sender=sender, date_text=written_by.group("date").strip())
        if _is_attribution(joined) and (end == start + 1 or _INTRO.match(first)):
            sender, date_text = _read(joined)
            return Attribution(start=start, end=end, sender=sender, date_text=date_text)
        if end >= len(lines) or not lines[end].strip() or first.endswith(":"):
            return None
        joined = f"{joined} {lines[end].strip()}"
    return None


def _name_before(prefix: str) -> str | None:
    quoted = _QUOTED.findall(prefix)
    if quoted:
        return str(quoted[-1]).strip()
    prefix = prefix.rsplit(",", maxsplit=1)[-1]
    times = list(_TIME.finditer(prefix))
    if times:
        prefix = prefix[times[-1].end() :]
        prefix = re.sub(r"^\s*(?:[AaPp]\.?[Mm]\.?|Uhr)\b", "", prefix)
    parts = _CONNECTOR_RE.split(prefix)
    name = parts[-1].strip(" \t,:()[]<>\"'")
    return name or None


def _read(text: str) -> tuple[Mailbox | None, str | None]:
    text = clean_value(text.replace("\ufeff", "")).strip()
    address = _ADDRESS.search(text)
    if address is not None:
        head = text[: address.start()].rstrip(" <([")
        end = address.end()
        while end < len(text) and text[end] in ">)] ":  # the brackets closing the address
            end += 1
        name = _name_before(head) if head.strip() else None
        sender = parse_mailbox(f"{name or ''} <{address.group(0)}>")
        cut = head.rfind(name) if name else len(head)
        return sender, _date_text(text[:cut] + " " + text[end:])
    if _SCHRIEB_NAME.match(text):
        head, _, name = text.rpartition(" schrieb ")
        return parse_mailbox(name.strip(" :")), _date_text(head)
    verbs = list(re.finditer(r"(?:^|[\s,>)\]])(" + _VERB_ALT + r")(?=[\s(:\uff1a]|$)", text, re.IGNORECASE))
    if not verbs:
        return None, None
    head = text[: verbs[-1].start(1)]
    name = _name_before(head)
    sender = parse_mailbox(name) if name else None
    return sender, _date_text(head[: head.rfind(name)] if name else head)


def _date_text(text: str) -> str | None:
    for verb in _VERBS:
        text = re.sub(r"(?:^|(?<=[\s,>)\]]))" + re.escape(verb) + r"(?=[\s(:\uff1a]|$)", " ", text, flags=re.IGNORECASE)
    text = _LEADING.sub("", text)
    text = _CONNECTOR_RE.sub(" ", text)
    text = re.sub(r"[\"“”„«»]", " ", text)
    text = " ".join(text.split()).strip(" ,:\uff1a()<>[]")
    return text if any(ch.isdigit() for ch in text) else None
