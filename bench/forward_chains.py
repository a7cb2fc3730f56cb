"""Set 2 of ``bench/forward_eval.py``: replies and nested forward chains, generated from templates.

Each case is a message a salesperson (Anna, ``example.com``) sends to the assistant, written the way a mail client
writes it (Gmail, Outlook desktop and new Outlook, Apple Mail, Thunderbird, Seznam, WP.pl, GMX) in its language (EN,
PL, CS, DE, FR):

* ``fwd``: a forward chain of 1 to 4 levels, each level in a client and language of its own forwarder, around a
  client's mail; colleagues, a client or a supplier forward along the way; some levels are attached
  (``message/rfc822``) and some forward headers are written only in the HTML part;
* ``reply``: Anna's reply to a client, BCC'd or sent straight to the assistant, quoting the client's mail with the
  client's attribution line or header block, sometimes over a forward the client had quoted.

The whole pipeline runs (``plan_message``), with Anna and Piotr as users and ``example.com`` as the organisation.
A case passes when the kind, the original sender, the chain (how each level is carried) and the participants (every
level's people, once) are what the template says.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

from _chain_clients import CLIENT_LIST, GMAIL_DATE, Client, Message, Person, mailbox, mailbox_list
from _common import print_failures

from linker.directory import MemoryDirectory, User
from linker.parse import parse_message
from linker.pipeline import Envelope, plan_message
from linker.settings import LinkerSettings

ASSISTANT = "assistant@crm.example.com"
ANNA = ("Anna Nowak", "anna.nowak@example.com")
PIOTR = ("Piotr Zieliński", "piotr.zielinski@example.com")
SETTINGS = LinkerSettings.build(assistant_addresses=[ASSISTANT], organization_domains=["example.com"])
CET = timezone(timedelta(hours=1))
WHEN = datetime(2024, 3, 4, 9, 15, tzinfo=CET)

#: Clients' people per language: the client who writes, a colleague in Cc, and a supplier further down.
CLIENTS: dict[str, tuple[Person, Person, Person]] = {
    "en": (
        ("Oliver Grant", "oliver.grant@northwind.test"),
        ("Emma Hughes", "emma.hughes@northwind.test"),
        ("Harry Webb", "h.webb@pallets-uk.example"),
    ),
    "pl": (
        ("Tomasz Wiśniewski", "t.wisniewski@acme-logistyka.test"),
        ("Ewa Kowalczyk", "ewa.kowalczyk@acme-logistyka.test"),
        ("Marek Zając", "marek.zajac@palety-radom.example"),
    ),
    "cs": (
        ("Jan Novák", "jan.novak@strojirny-brno.test"),
        ("Petra Dvořáková", "petra.dvorakova@strojirny-brno.test"),
        ("Karel Svoboda", "svoboda@hutni-material.example"),
    ),
    "de": (
        ("Jürgen Weiß", "j.weiss@maschinenbau-ulm.test"),
        ("Sabine Krüger", "s.krueger@maschinenbau-ulm.test"),
        ("Uwe Brandt", "brandt@stahlhandel.example"),
    ),
    "fr": (
        ("Émilie Laurent", "emilie.laurent@transports-lyon.test"),
        ("Hugo Lefèvre", "hugo.lefevre@transports-lyon.test"),
        ("Chloé Moreau", "c.moreau@emballages-sud.example"),
    ),
}
BODIES = {
    "en": "Hello,\n\nwe would like a quotation for 40 pallets.\n\nKind regards",
    "pl": "Dzień dobry,\n\nprosimy o ofertę na transport 40 palet.\n\nPozdrawiam",
    "cs": "Dobrý den,\n\nprosíme o nabídku na 40 palet.\n\nS pozdravem",
    "de": "Guten Tag,\n\nwir bitten um ein Angebot für 40 Paletten.\n\nMit freundlichen Grüßen",
    "fr": "Bonjour,\n\nnous souhaitons un devis pour 40 palettes.\n\nCordialement",
}
NOTES = {
    "en": "Please take a look.",
    "pl": "Proszę o przejęcie tematu.",
    "cs": "Prosím o převzetí.",
    "de": "Bitte übernehmen.",
    "fr": "Merci de regarder.",
}
SUBJECTS = {
    "en": "Quotation 40 pallets",
    "pl": "Oferta 40 palet",
    "cs": "Nabídka 40 palet",
    "de": "Angebot 40 Paletten",
    "fr": "Devis 40 palettes",
}


# ---- cases ---------------------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One generated message and what the pipeline must make of it."""

    id: str
    raw: bytes
    kind: str
    original_from: str
    how: list[str]
    people: set[str] = field(default_factory=set)


def _eml(m: Message, *, html: str | None = None, attached: bytes | None = None, bcc: bool = False) -> bytes:
    msg = EmailMessage()
    msg["From"] = mailbox(m.sender)
    msg["To"] = mailbox_list(m.to) if m.to else ASSISTANT
    if m.cc:
        msg["Cc"] = mailbox_list(m.cc)
    if bcc:
        msg["Bcc"] = ASSISTANT
    msg["Subject"] = m.subject
    msg["Date"] = format_datetime(WHEN + timedelta(days=1))
    msg["Message-ID"] = f"<{abs(hash((m.subject, m.text))) % 10**12}@{m.sender[1].split('@')[1]}>"
    msg.set_content(m.text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attached is not None:
        msg.add_attachment(attached, maintype="message", subtype="rfc822", filename="forwarded.eml")
    return bytes(msg)


def _forward(inner: Message, by: Person, to: list[Person], client: Client, note: str) -> Message:
    """``by`` forwards ``inner`` inline with ``client``: the note, the client's header block, the inner text."""
    text = f"{note}\n\n{client.block(client.lang, inner)}{inner.text}"
    return Message(by, to, [], f"{client.fwd} {inner.subject}", text)


def _gmail_html(note: str, inner: Message) -> str:
    """Gmail's HTML for an inline forward: the header block only in its ``gmail_quote`` div."""
    cc = f"Cc: {_html_list(inner.cc)}<br>" if inner.cc else ""
    body = "<br>".join(html.escape(line) for line in inner.text.splitlines())
    return (
        f'<div dir="ltr">{note}<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f'---------- Forwarded message ---------<br>From: <strong class="gmail_sendername" dir="auto">'
        f'{inner.sender[0]}</strong> <span dir="auto">&lt;<a href="mailto:{inner.sender[1]}">{inner.sender[1]}'
        f"</a>&gt;</span><br>Date: {GMAIL_DATE['en']}<br>Subject: {inner.subject}<br>To: {_html_list(inner.to)}<br>"
        f"{cc}</div><br><br>{body}</div></div>"
    )


def _html_list(people: list[Person]) -> str:
    return ", ".join(f'{p[0]} &lt;<a href="mailto:{p[1]}">{p[1]}</a>&gt;' for p in people)


def _addresses(*messages: Message) -> set[str]:
    return {p[1] for m in messages for p in (m.sender, *m.to, *m.cc)} - {ASSISTANT}


def forward_cases() -> Iterator[Case]:
    """Chains of 1 to 4 levels over every client; who forwards inside varies with the shape."""
    shapes = ("colleague", "client-forwards-supplier", "own-mail-forwarded-back")
    for index, (client, depth, shape) in enumerate(itertools.product(CLIENT_LIST, (1, 2, 3, 4), shapes)):
        if depth == 1 and shape != "colleague":
            continue
        lang = client.lang
        writer, colleague, supplier = CLIENTS[lang]
        subject = SUBJECTS[lang]
        # The bottom message, and who forwards it up to Anna, innermost first
        if shape == "colleague":
            bottom = Message(writer, [PIOTR], [colleague], subject, BODIES[lang])
            forwarders = [PIOTR] * (depth - 1)
            deepest_external = writer
        elif shape == "client-forwards-supplier":
            bottom = Message(supplier, [writer], [], subject, BODIES[lang])
            forwarders = [writer] + [PIOTR] * (depth - 2)
            deepest_external = supplier
        else:  # Anna's own offer, forwarded by the client to Piotr, who passes it back
            bottom = Message(ANNA, [writer], [colleague], subject, BODIES[lang])
            forwarders = [writer] + [PIOTR] * (depth - 2)
            deepest_external = writer
        levels = [bottom]
        current = bottom
        for k, by in enumerate(forwarders):
            inner_client = CLIENT_LIST[(index + k + 1) % len(CLIENT_LIST)]
            to = [ANNA] if k == len(forwarders) - 1 else [PIOTR if by != PIOTR else ANNA]
            current = _forward(current, by, to, inner_client, NOTES[inner_client.lang])
            levels.append(current)
        outer = _forward(current, ANNA, [], client, NOTES[lang])
        variant = index % 4
        how = ["inline"] * depth
        if variant == 1 and client.name in ("outlook", "new-outlook", "apple-mail"):
            # Forward as attachment: the outermost level is a message/rfc822 part
            attached = _eml(current)
            raw = _eml(Message(ANNA, [], [], f"{client.fwd} {current.subject}", NOTES[lang]), attached=attached)
            how[0] = "attached"
        elif variant == 2 and client.name == "gmail":
            # Gmail's text part written without the header block: it is only in the HTML
            raw = _eml(Message(ANNA, [], [], outer.subject, NOTES[lang]), html=_gmail_html(NOTES[lang], current))
        else:
            raw = _eml(outer)
        people = _addresses(*levels)
        yield Case(f"fwd-{client.name}-{lang}-d{depth}-{shape}", raw, "forward", deepest_external[1], how, people)


def _quote(client: Client, quoted: Message) -> str:
    """The reply's quote of ``quoted`` as ``client`` writes it."""
    body = "\n".join(f"> {line}" if line else ">" for line in quoted.text.splitlines())
    if client.attribution is None:
        return client.block(client.lang, quoted) + quoted.text
    line = client.attribution(quoted)
    if client.quote_attribution:
        return f"> {line}\n>\n{body}"
    return f"{line}\n\n{body}"


def reply_cases() -> Iterator[Case]:
    """Anna's replies to a client, over every client, BCC'd or sent to the assistant only, some over a forward."""
    replies = {
        "en": "Thank you, the offer is attached.",
        "pl": "Dziękuję, oferta w załączniku.",
        "cs": "Děkuji, nabídka je v příloze.",
        "de": "Vielen Dank, das Angebot liegt bei.",
        "fr": "Merci, le devis est en pièce jointe.",
    }
    shapes = ("bcc", "to-assistant", "bcc-over-forward", "to-assistant-over-forward")
    for client, shape in itertools.product(CLIENT_LIST, shapes):
        lang = client.lang
        writer, colleague, supplier = CLIENTS[lang]
        quoted = Message(writer, [ANNA], [colleague], SUBJECTS[lang], BODIES[lang])
        levels = [quoted]
        if shape.endswith("over-forward"):
            # The client forwarded their supplier's mail to Anna, and Anna answers that
            inner = Message(supplier, [writer], [], SUBJECTS[lang], BODIES[lang])
            sender_client = CLIENT_LIST[(CLIENT_LIST.index(client) + 1) % len(CLIENT_LIST)]
            quoted = _forward(inner, writer, [ANNA], sender_client, NOTES[lang])
            quoted = Message(quoted.sender, quoted.to, [colleague], quoted.subject, quoted.text)
            levels = [quoted]
        to = [] if shape.startswith("to-assistant") else [writer]
        text = f"{replies[lang]}\n\nAnna\n\n{_quote(client, quoted)}"
        reply = Message(ANNA, to, [], f"{client.re} {quoted.subject}", text)
        raw = _eml(reply, bcc=bool(to))
        people = _addresses(*levels)
        if client.attribution is not None:
            # An attribution names the sender only, by address when the client writes one
            named = {quoted.sender[1]} if "{address}" in _template_of(client) else set()
            people = {ANNA[1]} | ({writer[1]} if to else set()) | named
        yield Case(f"reply-{client.name}-{lang}-{shape}", raw, "bcc", ANNA[1], ["quoted"], people)


def _template_of(client: Client) -> str:
    probe = Message(("N", "{address}"), [], [], "", "")  # the template with its address placeholder kept
    return client.attribution(probe) if client.attribution else ""


def all_cases() -> list[Case]:
    """Every generated case, forwards first."""
    return [*forward_cases(), *reply_cases()]


# ---- evaluation -----------------------------------------------------------------------------------------------------

FIELDS = ("kind", "original", "chain", "people")


def _directory() -> MemoryDirectory:
    anna, piotr = User(1, ANNA[1], ANNA[0]), User(2, PIOTR[1], PIOTR[0])
    return MemoryDirectory(users={anna.email: anna, piotr.email: piotr})


def check_case(case: Case) -> dict[str, str | None]:
    """Each field mapped to ``None`` (right) or what went wrong."""
    envelope = Envelope(mail_from=ANNA[1], rcpt_tos=(ASSISTANT,), submitter=ANNA[1], proof="dkim")
    plan = plan_message(parse_message(case.raw), envelope=envelope, settings=SETTINGS, directory=_directory())
    original = plan.original
    assert original is not None
    sender = original.from_.address if original.from_ else None
    how = [level.how for level in original.chain]
    got_people = {p.address for p in plan.participants}
    missing = case.people - got_people
    return {
        "kind": None if plan.kind == case.kind else f"kind={plan.kind}",
        "original": None if sender == case.original_from else f"original from {sender}",
        "chain": None if how == case.how else f"chain {how}, expected {case.how}",
        "people": None if not missing else f"missing participants {sorted(missing)}",
    }


def evaluate_chains() -> int:
    """Run every generated case; print the report; return the number of failed cases."""
    cases = all_cases()
    totals: dict[str, dict[str, list[int]]] = {}
    failures: list[str] = []
    for case in cases:
        family = case.id.split("-", 1)[0]
        verdicts = check_case(case)
        for name, reason in verdicts.items():
            tally = totals.setdefault(family, {}).setdefault(name, [0, 0])
            tally[1] += 1
            tally[0] += reason is None
        wrong = [reason for reason in verdicts.values() if reason]
        if wrong:
            failures.append(f"{case.id}: {'; '.join(wrong)}")
    print(f"forward_eval --chains: {len(cases)} generated cases ({len(CLIENT_LIST)} client/language pairs)")
    for family, fields in totals.items():
        counts = fields["kind"][1]
        print(f"{family} ({counts} cases)")
        for name in FIELDS:
            good, seen = fields[name]
            print(f"  {name:<10}{good:>4}/{seen:<4} {100.0 * good / seen:5.1f}%")
    return print_failures(len(cases), failures)


def show_case(case_id: str) -> int:
    """Print one case's message and verdicts (for debugging a template)."""
    for case in all_cases():
        if case.id == case_id:
            print(case.raw.decode("utf-8", "replace"))
            print(check_case(case))
            return 0
    print(f"no case {case_id}")
    return 1
