"""Timelines as conversations (``store.conversations``): grouping by thread link and subject, the order, snippets and
attachments, keyset pages, the filters, and visibility, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from store import BadCursorError, ConversationPage, LinkWrite, MessageFilter, Store, Viewer
from store.conversations import SNIPPET_CHARS, snippet, subject_key
from tests.store.world import (
    ADA,
    ANNA,
    JAN,
    LOGO,
    PAWEL,
    PDF,
    PIOTR,
    World,
    blob,
    build_world,
    day,
    file_message,
    person,
)

LONG_BODY = "Dzień dobry,\n\n   dziękuję za   ofertę.\tProszę o termin " + "bardzo " * 40 + "KONIEC"


@dataclass
class Convos:
    world: World
    m: dict[str, int]

    def viewer(self, store: Store, email: str) -> Viewer:
        return self.world.viewer(store, email)


@pytest.fixture
def convos(store: Store) -> Convos:
    return build_convos(store)


def build_convos(store: Store) -> Convos:
    """``build_world``, and on Acme: a reply and a forward of Anna's offer, Paweł's mail tied to it by a thread link
    only, and a chain A ← B ← C where Paweł may see A and C but not B (Anna's)."""
    world = build_world(store)
    anna, pawel = (ANNA.email, world.users[ANNA.email]), (PAWEL.email, world.users[PAWEL.email])
    acme, piotr = world.acme, world.piotr
    on_acme = (LinkWrite("client", "address", entity_id=acme),)
    m: dict[str, int] = {}
    m["reply"] = file_message(
        store,
        submitter=anna,
        key="<r1@acme>",
        subject="RE: Oferta flotowa",
        date=day(10),
        kind="redirect",
        direction="incoming",
        sender=(PIOTR.emails[0], PIOTR.name),
        participants=(person("from", PIOTR.emails[0], PIOTR.name), person("to", ANNA.email, "Anna Nowak")),
        links=(LinkWrite("contact", "address", entity_id=piotr),),
        body=LONG_BODY,
        attachments=(blob(PDF, "terms.pdf", "application/pdf"), blob(LOGO, "sig.png", "image/png", "<sig@acme>")),
    )
    m["forward"] = file_message(
        store,
        submitter=anna,
        key="<f1@crm>",
        subject="Fwd: Re:  oferta   FLOTOWA",
        date=day(11),
        kind="forward",
        participants=(person("from", ANNA.email), person("to", "biuro@acme-logistics.pl")),
        links=on_acme,
    )
    m["threaded"] = file_message(
        store,
        submitter=pawel,
        key="<t1@crm>",
        subject="Termin dostawy",
        date=day(12),
        participants=(person("from", PAWEL.email), person("to", "biuro@acme-logistics.pl")),
        links=(LinkWrite("client", "thread", entity_id=acme, from_message_id=world.m["to_piotr"]),),
    )
    _file_chain(store, world, m)
    m["bare"] = file_message(store, submitter=pawel, key="<n@crm>", subject="Re:", date=day(9), links=on_acme)
    return Convos(world, {**world.m, **m})


def _file_chain(store: Store, world: World, m: dict[str, int]) -> None:
    """Alpha ← Beta ← Gamma on Acme by thread links: Paweł's, Anna's, Paweł's."""
    anna, pawel = (ANNA.email, world.users[ANNA.email]), (PAWEL.email, world.users[PAWEL.email])
    on_acme = (LinkWrite("client", "address", entity_id=world.acme),)
    acme = world.acme
    m["a"] = file_message(store, submitter=pawel, key="<a@crm>", subject="Alpha", date=day(13), links=on_acme)
    m["b"] = file_message(
        store,
        submitter=anna,
        key="<b@crm>",
        subject="Beta",
        date=day(14),
        links=(LinkWrite("client", "thread", entity_id=acme, from_message_id=m["a"]),),
    )
    m["c"] = file_message(
        store,
        submitter=pawel,
        key="<c@crm>",
        subject="Gamma",
        date=day(15),
        links=(LinkWrite("client", "thread", entity_id=acme, from_message_id=m["b"]),),
    )


def ids(page: ConversationPage) -> list[list[int]]:
    return [[message.id for message in c.messages] for c in page.items]


def acme(convos: Convos, **more: object) -> MessageFilter:
    return MessageFilter(client_id=convos.world.acme, **more)  # type: ignore[arg-type]


# --- the pure parts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        ("Oferta flotowa", "oferta flotowa"),
        ("RE: Oferta  flotowa ", "oferta flotowa"),
        ("Fwd: AW: WG: Odp: PD: oferta flotowa", "oferta flotowa"),
        ("Re[2]: RE (3): Tr : oferta", "oferta"),
        ("[EXTERNAL] Re: [Acme] oferta", "oferta"),
        ("Přeposlat: Sklad", "sklad"),
        ("Re:", None),
        ("   ", None),
        (None, None),
        ("Reklamacja", "reklamacja"),  # "re" only as a prefix with its colon
        ("Ref: 123", "ref: 123"),
    ],
)
def test_subject_key(subject: str | None, key: str | None) -> None:
    assert subject_key(subject) == key


def test_snippet_collapses_whitespace_and_cuts_at_a_word() -> None:
    assert snippet(None) == "" and snippet(" \n\t ") == ""
    assert snippet("a\n\n  b\tc") == "a b c"
    cut = snippet(LONG_BODY)
    assert cut.startswith("Dzień dobry, dziękuję za ofertę. Proszę o termin bardzo")
    assert cut.endswith("bardzo…") and len(cut) <= SNIPPET_CHARS
    assert snippet("x" * 500) == "x" * (SNIPPET_CHARS - 1) + "…"


# --- grouping and order ----------------------------------------------------------------------------------------------


def test_messages_group_by_subject_and_thread_link_newest_conversation_first(store: Store, convos: Convos) -> None:
    m = convos.m
    page = store.queries.list_conversations(convos.viewer(store, ADA.email), acme(convos))
    # Alpha ← Beta ← Gamma by thread links; the offer with its reply, forward and Paweł's threaded mail; then the
    # subject-less reply and the rest of Acme's mail alone.
    assert ids(page) == [
        [m["a"], m["b"], m["c"]],
        [m["to_piotr"], m["reply"], m["forward"], m["threaded"]],
        [m["bare"]],
        [m["client_direct"]],
        [m["deal"]],
    ]
    offer = page.items[1]
    assert offer.subject == "Oferta flotowa"  # the oldest message's
    assert offer.count == 4 and offer.last_date == day(12)
    assert page.items[0].subject == "Alpha" and page.items[0].last_date == day(15)
    assert [p.address for p in offer.participants] == [
        ANNA.email,
        PIOTR.emails[0],
        "biuro@acme-logistics.pl",
        PAWEL.email,
    ]
    assert dict((p.address, p.name) for p in offer.participants)[ANNA.email] == "Anna Nowak"
    assert page.next is None and not page.truncated


def test_a_message_shows_who_filed_it_how_a_snippet_and_its_attachments(store: Store, convos: Convos) -> None:
    page = store.queries.list_conversations(convos.viewer(store, ADA.email), acme(convos))
    shown = {message.id: message for c in page.items for message in c.messages}
    reply = shown[convos.m["reply"]]
    assert (reply.direction, reply.kind, reply.submitter) == ("incoming", "redirect", ANNA.name)
    assert (reply.from_name, reply.from_address) == (PIOTR.name, PIOTR.emails[0])
    assert reply.snippet == snippet(LONG_BODY) and "\n" not in reply.snippet
    assert reply.attachments == 1  # the signature image is inline: not counted
    first = shown[convos.m["to_piotr"]]
    assert first.attachments == 1 and first.snippet == "Dzień dobry Panie Wiśniewski, w załączniku oferta."
    forward = shown[convos.m["forward"]]
    assert (forward.kind, forward.direction, forward.snippet, forward.attachments) == ("forward", "outgoing", "", 0)


def test_keyset_pages_visit_every_conversation_once(store: Store, convos: Convos) -> None:
    viewer = convos.viewer(store, ADA.email)
    whole = ids(store.queries.list_conversations(viewer, acme(convos)))
    seen: list[list[int]] = []
    after = None
    while True:
        page = store.queries.list_conversations(viewer, acme(convos), after=after, limit=2)
        assert len(page.items) <= 2
        seen += ids(page)
        if page.next is None:
            break
        after = page.next
    assert seen == whole


@pytest.mark.parametrize("cursor", ["junk", "bS0xfDIwMjYtMDEtMDFUMDA6MDA6MDArMDA6MDB8MQ"])
def test_a_cursor_of_another_list_is_refused(store: Store, convos: Convos, cursor: str) -> None:
    with pytest.raises(BadCursorError):
        store.queries.list_conversations(convos.viewer(store, ADA.email), acme(convos), after=cursor)


# --- filters ----------------------------------------------------------------------------------------------------------


def test_filters_narrow_the_messages_then_group_them(store: Store, convos: Convos) -> None:
    m, viewer = convos.m, convos.viewer(store, ADA.email)

    def listed(f: MessageFilter, person: str | None = None) -> list[list[int]]:
        return ids(store.queries.list_conversations(viewer, f, person=person))

    assert listed(acme(convos, kind="forward")) == [[m["forward"]]]
    assert listed(acme(convos, direction="incoming")) == [[m["reply"]], [m["client_direct"]]]
    assert listed(acme(convos), person=PIOTR.emails[0]) == [[m["to_piotr"], m["reply"]]]
    assert listed(acme(convos), person="nobody@example.org") == []
    # Beta (Anna's) is filtered out: Gamma's thread link named it, so Alpha and Gamma are no longer one conversation.
    assert listed(acme(convos, submitter_id=convos.world.users[PAWEL.email])) == [
        [m["c"]],
        [m["a"]],
        [m["threaded"]],
        [m["bare"]],
        [m["deal"]],
    ]
    window = acme(convos, date_from=day(10), date_to=day(12))
    assert listed(window) == [[m["reply"], m["forward"]]]


# --- visibility -------------------------------------------------------------------------------------------------------


def test_an_own_viewer_sees_only_their_mail_grouped_only_through_what_they_see(store: Store, convos: Convos) -> None:
    m = convos.m
    page = store.queries.list_conversations(convos.viewer(store, PAWEL.email), acme(convos))
    # Gamma answers Beta, which answers Alpha; Paweł may not see Beta, so nothing ties Gamma to Alpha for him.
    assert ids(page) == [[m["c"]], [m["a"]], [m["threaded"]], [m["bare"]], [m["deal"]]]
    threaded = page.items[2]
    assert (threaded.subject, threaded.count) == ("Termin dostawy", 1)
    assert [p.address for p in threaded.participants] == [PAWEL.email, "biuro@acme-logistics.pl"]
    # Nothing of Anna's offer, its reply or Beta: no subject, snippet, attachment or participant.
    text = repr(page)
    for secret in ("Oferta", "oferta", "Beta", "dziękuję", PIOTR.emails[0], ANNA.email, "Anna Nowak"):
        assert secret not in text, secret


def test_a_team_viewer_sees_the_teams_conversations_and_others_none(store: Store, convos: Convos) -> None:
    admin = ids(store.queries.list_conversations(convos.viewer(store, ADA.email), acme(convos)))
    assert ids(store.queries.list_conversations(convos.viewer(store, ANNA.email), acme(convos))) == admin
    assert store.queries.list_conversations(convos.viewer(store, JAN.email), acme(convos)).items == ()


def test_a_viewer_with_an_unknown_role_sees_nothing(store: Store, convos: Convos) -> None:
    viewer = dataclasses.replace(convos.viewer(store, ADA.email), role="guest")
    assert store.queries.list_conversations(viewer, acme(convos)).items == ()
