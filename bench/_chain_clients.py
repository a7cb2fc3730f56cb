"""How each mail client of ``forward_chains.py`` writes a forward and a reply, per language: its dates, its
forward header block, its subject prefixes and its reply attribution (Gmail, Outlook desktop and new Outlook, Apple
Mail, Thunderbird in EN, PL, CS, DE, FR; Seznam, WP.pl and GMX in their own language)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Person = tuple[str, str]
#: The languages every international client writes in, in the order of the cases.
LANGUAGES = ("en", "pl", "cs", "de", "fr")


def mailbox(person: Person) -> str:
    """``Name <address>``."""
    return f"{person[0]} <{person[1]}>"


def mailbox_list(people: list[Person]) -> str:
    """Mailboxes separated by commas."""
    return ", ".join(mailbox(p) for p in people)


@dataclass(frozen=True)
class Message:
    """One message of a chain: who wrote it to whom, its subject, and its text (which holds the level below)."""

    sender: Person
    to: list[Person]
    cc: list[Person]
    subject: str
    text: str


# ---- clients: how each writes a forward and a reply -------------------------------------------------------------

#: Dates as each client prints them, per language.
GMAIL_DATE = {
    "en": "Mon, Mar 4, 2024 at 9:15 AM",
    "pl": "pon., 4 mar 2024 o 09:15",
    "cs": "po 4. 3. 2024 v 9:15",
    "de": "Mo., 4. März 2024 um 09:15 Uhr",
    "fr": "lun. 4 mars 2024 à 09:15",
}
OUTLOOK_DATE = {
    "en": "Monday, March 4, 2024 9:15 AM",
    "pl": "poniedziałek, 4 marca 2024 09:15",
    "cs": "pondělí 4. března 2024 9:15",
    "de": "Montag, 4. März 2024 09:15",
    "fr": "lundi 4 mars 2024 09:15",
}
APPLE_DATE = {
    "en": "4 March 2024 at 09:15:00 CET",
    "pl": "4 marca 2024 09:15:00 CET",
    "cs": "4. března 2024 9:15:00 SEČ",
    "de": "4. März 2024 um 09:15:00 MEZ",
    "fr": "4 mars 2024 à 09:15:00 UTC+1",
}
THUNDERBIRD_DATE = "Mon, 4 Mar 2024 09:15:00 +0100"


def _table(text: str) -> dict[str, tuple[str, ...]]:
    """A table written one language a line, ``lang | cell | cell …``: each language's cells."""
    rows = (line.split("|") for line in text.strip().splitlines())
    return {cells[0].strip(): tuple(cell.strip() for cell in cells[1:]) for cells in rows}


#: Separator, From, Sent, To, Cc, Subject.
OUTLOOK_LABELS = _table("""
en | -----Original Message-----        | From | Sent     | To   | Cc    | Subject
pl | -----Wiadomość oryginalna-----    | Od   | Wysłano  | Do   | DW    | Temat
cs | -----Původní zpráva-----          | Od   | Odesláno | Komu | Kopie | Předmět
de | -----Ursprüngliche Nachricht----- | Von  | Gesendet | An   | Cc    | Betreff
fr | -----Message d'origine-----       | De : | Envoyé : | À :  | Cc :  | Objet :
""")
#: Title, From, Subject, Date, To, Cc.
APPLE_LABELS = _table("""
en | Begin forwarded message:               | From | Subject | Date   | To   | Cc
pl | Początek przekazywanej wiadomości:     | Od   | Temat   | Data   | Do   | DW
cs | Začátek přeposílané zprávy:            | Od   | Předmět | Datum  | Komu | Kopie
de | Anfang der weitergeleiteten Nachricht: | Von  | Betreff | Datum  | An   | Kopie
fr | Début du message réexpédié :           | De : | Objet : | Date : | À :  | Cc :
""")
#: Title, Subject, Date, From, To, CC.
THUNDERBIRD_LABELS = _table("""
en | Forwarded Message         | Subject | Date   | From    | To      | CC
pl | Przekazana wiadomość      | Temat   | Data   | Nadawca | Adresat | Kopia
cs | Přeposlaná zpráva         | Předmět | Datum  | Od      | Komu    | Kopie
de | Weitergeleitete Nachricht | Betreff | Datum  | Von     | An      | Kopie (CC)
fr | Message transféré         | Sujet : | Date : | De :    | Pour :  | Copie à :
""")
GMAIL_FROM = {"en": "From", "pl": "Od", "cs": "Od", "de": "Von", "fr": "De :"}


def _label(label: str) -> str:
    """``Label:``, or the label as given when it carries its own (French) colon."""
    return label if label.endswith(":") else f"{label}:"


def _cc_line(label: str, cc: list[Person]) -> list[str]:
    return [f"{_label(label)} {mailbox_list(cc)}"] if cc else []


def gmail_block(lang: str, m: Message) -> str:
    lines = ["---------- Forwarded message ---------", f"{_label(GMAIL_FROM[lang])} {mailbox(m.sender)}"]
    lines += [f"Date: {GMAIL_DATE[lang]}", f"Subject: {m.subject}", f"To: {mailbox_list(m.to)}"]
    lines += _cc_line("Cc", m.cc)
    return "\n".join(lines) + "\n\n\n"


def outlook_block(lang: str, m: Message, *, rule: bool = False) -> str:
    sep, frm, sent, to, cc, subject = OUTLOOK_LABELS[lang]
    lines = ["________________________________" if rule else sep, f"{_label(frm)} {mailbox(m.sender)}"]
    lines += [f"{_label(sent)} {OUTLOOK_DATE[lang]}", f"{_label(to)} {'; '.join(mailbox(p) for p in m.to)}"]
    lines += [f"{_label(cc)} {'; '.join(mailbox(p) for p in m.cc)}"] if m.cc else []
    lines += [f"{_label(subject)} {m.subject}"]
    return "\n".join(lines) + "\n\n"


def apple_block(lang: str, m: Message) -> str:
    title, frm, subject, date, to, cc = APPLE_LABELS[lang]
    lines = [title, "", f"{_label(frm)} {mailbox(m.sender)}", f"{_label(subject)} {m.subject}"]
    lines += [f"{_label(date)} {APPLE_DATE[lang]}", f"{_label(to)} {mailbox_list(m.to)}"]
    lines += _cc_line(cc, m.cc)
    return "\n".join(lines) + "\n\n"


def thunderbird_block(lang: str, m: Message) -> str:
    title, subject, date, frm, to, cc = THUNDERBIRD_LABELS[lang]
    lines = [f"-------- {title} --------", f"{_label(subject)} \t{m.subject}", f"{_label(date)} \t{THUNDERBIRD_DATE}"]
    lines += [f"{_label(frm)} \t{mailbox(m.sender)}", f"{_label(to)} \t{mailbox_list(m.to)}"]
    lines += [f"{_label(cc)} \t{mailbox_list(m.cc)}"] if m.cc else []
    return "\n".join(lines) + "\n\n\n\n"


def seznam_block(lang: str, m: Message) -> str:
    lines = ["---------- Původní e-mail ----------", f"Od: {mailbox(m.sender)}", f"Komu: {mailbox_list(m.to)}"]
    lines += [f"Kopie: {mailbox_list(m.cc)}"] if m.cc else []
    lines += ["Datum: 4. 3. 2024 9:15:00", f"Předmět: {m.subject}"]
    return "\n".join(lines) + "\n"


def wp_block(lang: str, m: Message) -> str:
    lines = ["---------- Oryginalna wiadomość ----------", f"Od: {mailbox(m.sender)}", f"Do: {mailbox_list(m.to)}"]
    lines += [f"DW: {mailbox_list(m.cc)}"] if m.cc else []
    lines += ["Data: 4 marca 2024 09:15", f"Temat: {m.subject}"]
    return "\n".join(lines) + "\n\n"


def gmx_block(lang: str, m: Message) -> str:
    lines = ["Gesendet: Montag, 04. März 2024 um 09:15 Uhr", f'Von: "{m.sender[0]}" <{m.sender[1]}>']
    lines += [f"An: {mailbox_list(m.to)}"] + ([f"Cc: {mailbox_list(m.cc)}"] if m.cc else []) + [f"Betreff: {m.subject}"]
    return "\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class Client:
    """A mail client in one language: how it heads a forwarded message, prefixes subjects and quotes a reply."""

    name: str
    lang: str
    block: Callable[[str, Message], str]
    fwd: str
    re: str
    #: The reply attribution, ``None`` when the client quotes a reply under its forward header block instead.
    attribution: Callable[[Message], str] | None
    #: Whether the reply quotes the attribution too (Apple Mail) and the quoted text with ``>``.
    quote_attribution: bool = False


def _att(template: str) -> Callable[[Message], str]:
    return lambda m: template.format(name=m.sender[0], address=m.sender[1])


GMAIL_ATT = {
    "en": "On Mon, Mar 4, 2024 at 9:15 AM {name} <{address}> wrote:",
    "pl": "pon., 4 mar 2024 o 09:15 {name} <{address}> napisał(a):",
    "cs": "po 4. 3. 2024 v 9:15 odesílatel {name} <{address}> napsal:",
    "de": "Am Mo., 4. März 2024 um 09:15 Uhr schrieb {name} <{address}>:",
    "fr": "Le lun. 4 mars 2024 à 09:15, {name} <{address}> a écrit :",
}
APPLE_ATT = {
    "en": "On 4 Mar 2024, at 09:15, {name} <{address}> wrote:",
    "pl": "Wiadomość napisana przez {name} <{address}> w dniu 04.03.2024, o godz. 09:15:",
    "cs": "Dne 4. 3. 2024 v 9:15, {name} <{address}> napsal(a):",
    "de": "Am 04.03.2024 um 09:15 schrieb {name} <{address}>:",
    "fr": "Le 4 mars 2024 à 09:15, {name} <{address}> a écrit :",
}
THUNDERBIRD_ATT = {
    "en": "On 04/03/2024 09:15, {name} wrote:",
    "pl": "W dniu 4.03.2024 o 09:15, {name} pisze:",
    "cs": "Dne 04. 03. 24 v 9:15 {name} napsal(a):",
    "de": "Am 04.03.24 um 09:15 schrieb {name}:",
    "fr": "Le 04/03/2024 à 09:15, {name} a écrit :",
}
OUTLOOK_PREFIX = {"en": ("FW:", "RE:"), "pl": ("PD:", "ODP:"), "cs": ("FW:", "RE:"), "de": ("WG:", "AW:")}
OUTLOOK_PREFIX["fr"] = ("TR :", "RE :")


def _clients() -> list[Client]:
    out: list[Client] = []
    for lang in LANGUAGES:
        fw, re_ = OUTLOOK_PREFIX[lang]
        out += [
            Client("gmail", lang, gmail_block, "Fwd:", "Re:", _att(GMAIL_ATT[lang])),
            Client("outlook", lang, outlook_block, fw, re_, None),
            Client("new-outlook", lang, lambda lg, m: outlook_block(lg, m, rule=True), fw, re_, None),
            Client("apple-mail", lang, apple_block, "Fwd:", "Re:", _att(APPLE_ATT[lang]), quote_attribution=True),
            Client("thunderbird", lang, thunderbird_block, "Fwd:", "Re:", _att(THUNDERBIRD_ATT[lang])),
        ]
    out.append(Client("seznam", "cs", seznam_block, "Fwd:", "Re:", None))
    wp_attribution = _att("Dnia 4 marca 2024 09:15 {name} <{address}> napisał(a):")
    out.append(Client("wp", "pl", wp_block, "Fwd:", "Odp:", wp_attribution))
    out.append(Client("gmx", "de", gmx_block, "Fwd:", "Aw:", None))
    return out


CLIENT_LIST = _clients()
