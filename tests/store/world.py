"""A small filed history for read-side tests: users, clients, contacts, records and emails whose visibility differs.

``build_world`` files it with the import verbs and ``apply_plan``; ``VISIBLE`` says who sees which email."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime

from store import (
    AttachmentWrite,
    CodeWrite,
    LeadWrite,
    LinkWrite,
    MessageFilter,
    MessageWrite,
    ParticipantWrite,
    PlanWrite,
    Store,
    Trust,
    Viewer,
)
from store.shapes import ClientRow, ContactRow, RecordRow, UserRow

ADA = UserRow(line=2, email="ada@crm.example.com", name="Ada Admin", team="PL", role="all")
ANNA = UserRow(3, "anna@crm.example.com", "Anna Nowak", "PL", "team", aliases=("anna.nowak@crm.example.com",))
PAWEL = UserRow(4, "pawel@crm.example.com", "Paweł Kowalski", "PL", "own")
JAN = UserRow(5, "jan@crm.example.com", "Jan Novák", "CZ", "own")
EVA = UserRow(6, "eva@crm.example.com", "Eva Dvořák", "CZ", "team")
SOLO = UserRow(7, "solo@crm.example.com", "Solo Worker", None, "team")
USERS = (ADA, ANNA, PAWEL, JAN, EVA, SOLO)
ACME = ClientRow(2, "Acme Logistics", domains=("acme-logistics.pl",), emails=("biuro@acme-logistics.pl",))
BETA = ClientRow(3, "Beta s.r.o.", domains=("beta.cz",))
PIOTR = ContactRow(2, "Piotr Wiśniewski", ("piotr@acme-logistics.pl",), client=ACME.name)
KAREL = ContactRow(3, "Karel Svoboda", ("karel@beta.cz",), client=BETA.name)
WOLF = ContactRow(4, "Lone Wolf", ("wolf@example.org",))
DEAL = RecordRow(2, "OP-123", "deal", "Fleet renewal", client=ACME.name)
WAREHOUSE = RecordRow(3, "OP-200", "deal", "Warehouse", client=BETA.name)
LEAD = "nowak@gmail.com"
PDF = b"%PDF-1.7 the offer"
LOGO = b"\x89PNG the logo"


def day(n: int) -> datetime:
    return datetime(2026, 3, n, 9, 30, tzinfo=UTC)


def blob(data: bytes, filename: str | None, content_type: str, cid: str | None = None) -> AttachmentWrite:
    return AttachmentWrite(
        filename, content_type, len(data), hashlib.sha256(data).hexdigest(), cid, cid is not None, data
    )


def person(role: str, address: str, name: str | None = None, match: tuple[str, int] | None = None) -> ParticipantWrite:
    internal = address.endswith("@crm.example.com")
    kind, mid = match if match else (None, None)
    return ParticipantWrite(role, address, name, internal, kind, mid, kind)


def file_message(
    store: Store,
    *,
    submitter: tuple[str, int],
    key: str,
    subject: str | None,
    date: datetime | None,
    kind: str = "bcc",
    direction: str = "outgoing",
    sender: tuple[str, str | None] | None = None,
    participants: tuple[ParticipantWrite, ...] = (),
    links: tuple[LinkWrite, ...] = (),
    body: str | None = None,
    trust: Trust | None = None,
    **more: object,
) -> int:
    """File one email through a receipt from ``submitter`` (address, user id); returns the message id."""
    address, user_id = submitter
    receipt = store.receipts.add_inbound(
        key.encode(), mail_from=address, rcpt_tos=["assistant@crm.example.com"], trust=trust
    ).id
    from_address, from_name = sender if sender else (address, None)
    message = MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject=subject,
        date=date,
        from_name=from_name,
        from_address=from_address,
        direction=direction,
        kind=kind,
        submitter_user_id=user_id,
        body_text=body,
        body_html=None,
        note=None,
        raw_sha256=hashlib.sha256(key.encode()).hexdigest(),
        participants=participants,
        links=(LinkWrite("user", "submitter", entity_id=user_id), *links),
        **more,  # type: ignore[arg-type]
    )
    result = store.filing.apply_plan(
        receipt, PlanWrite(status="linked", reason=f"submitted by {address}", message=message)
    )
    assert result.message_id is not None
    return result.message_id


@dataclasses.dataclass(frozen=True)
class _Directory:
    """The ids of the directory rows the emails of ``build_world`` are filed on."""

    users: dict[str, int]
    acme: int
    beta: int
    piotr: int
    karel: int
    wolf: int
    deal: int
    warehouse: int

    def submitter(self, user: UserRow) -> tuple[str, int]:
        return user.email, self.users[user.email]


@dataclasses.dataclass(frozen=True)
class World(_Directory):
    """``build_world``'s directory ids, with the lead its mail made and its emails by name (``m``)."""

    lead: int
    m: dict[str, int]

    def viewer(self, store: Store, email: str) -> Viewer:
        found = store.queries.get_viewer(self.users[email])
        assert found is not None
        return found

    def ids(self, *names: str) -> set[int]:
        return {self.m[name] for name in names}


def _apply_directory(store: Store) -> _Directory:
    """Six users in two teams, two clients with three contacts, and two records."""
    store.directory.apply_users(list(USERS))
    store.directory.apply_clients([ACME, BETA])
    store.directory.apply_contacts([PIOTR, KAREL, WOLF])
    store.directory.apply_records([DEAL, WAREHOUSE])
    users = {email: ref.id for email, ref in store.directory.find_users_by_addresses([u.email for u in USERS]).items()}
    contacts = store.directory.find_people(["piotr@acme-logistics.pl", "karel@beta.cz", "wolf@example.org"]).contacts
    piotr, karel, wolf = (contacts[a].id for a in ("piotr@acme-logistics.pl", "karel@beta.cz", "wolf@example.org"))
    acme, beta = contacts["piotr@acme-logistics.pl"].client_id, contacts["karel@beta.cz"].client_id
    assert acme is not None and beta is not None
    records = store.directory.find_records_by_codes(["OP-123", "OP-200"])
    return _Directory(users, acme, beta, piotr, karel, wolf, records["OP-123"].id, records["OP-200"].id)


def _file_team_pl_mail(store: Store, d: _Directory, m: dict[str, int]) -> None:
    """The emails of team PL with Acme: an offer, a deal, and the client writing to an alias."""
    anna, pawel = d.submitter(ANNA), d.submitter(PAWEL)
    piotr, acme, deal = d.piotr, d.acme, d.deal
    # Anna writes to Piotr (a contact of Acme only), with an offer and an inline logo.
    m["to_piotr"] = file_message(
        store,
        submitter=anna,
        key="<1@crm>",
        subject="Oferta flotowa",
        date=day(2),
        sender=(ANNA.email, "Anna Nowak"),
        participants=(
            person("from", ANNA.email, "Anna Nowak"),
            person("to", PIOTR.emails[0], PIOTR.name, ("contact", piotr)),
        ),
        links=(LinkWrite("contact", "address", entity_id=piotr),),
        body="Dzień dobry Panie Wiśniewski, w załączniku oferta.",
        attachments=(blob(PDF, "offer.pdf", "application/pdf"), blob(LOGO, None, "image/png", "<logo@acme>")),
    )
    # Paweł writes about deal OP-123 to Acme's office: filed on the record only.
    m["deal"] = file_message(
        store,
        submitter=pawel,
        key="<2@crm>",
        subject="OP-123 harmonogram",
        date=day(3),
        participants=(person("from", PAWEL.email), person("to", "biuro@acme-logistics.pl", None, ("client", acme))),
        links=(LinkWrite("record", "code", entity_id=deal),),
        codes=(CodeWrite("OP-123", deal),),
    )
    # Acme's office writes to Anna's alias; a mailbox rule redirects it.
    m["client_direct"] = file_message(
        store,
        submitter=anna,
        key="<3@acme>",
        subject="Pytanie o fakturę",
        date=day(4),
        kind="redirect",
        direction="incoming",
        sender=("biuro@acme-logistics.pl", "Biuro Acme"),
        participants=(
            person("from", "biuro@acme-logistics.pl", "Biuro Acme", ("client", acme)),
            person("to", ANNA.aliases[0]),
        ),
        links=(LinkWrite("client", "address", entity_id=acme),),
    )


def _file_cross_team_mail(store: Store, d: _Directory, m: dict[str, int]) -> None:
    """Emails that cross teams: a forward from Beta to team CZ, and a mail of team PL with team CZ in Cc."""
    anna, jan = d.submitter(ANNA), d.submitter(JAN)
    karel, beta, warehouse, users = d.karel, d.beta, d.warehouse, d.users
    # Jan forwards Karel's mail about OP-200 and an unknown code.
    m["beta"] = file_message(
        store,
        submitter=jan,
        key="<4@beta>",
        subject="Fwd: OP-200 XX-9 sklad",
        date=day(5),
        kind="forward",
        direction="incoming",
        sender=("karel@beta.cz", "Karel Svoboda"),
        participants=(
            person("from", "karel@beta.cz", KAREL.name, ("contact", karel)),
            person("to", JAN.email, JAN.name),
        ),
        links=(
            LinkWrite("contact", "address", entity_id=karel),
            LinkWrite("client", "address", entity_id=beta),
            LinkWrite("record", "code", entity_id=warehouse),
        ),
        codes=(CodeWrite("OP-200", warehouse), CodeWrite("XX-9", None)),
    )
    # Anna writes to a new lead, with Jan (the other team) in Cc.
    m["cc_jan"] = file_message(
        store,
        submitter=anna,
        key="<5@crm>",
        subject="Zapytanie ofertowe",
        date=day(6),
        participants=(person("from", ANNA.email), person("to", LEAD, "Jan Nowak"), person("cc", JAN.email)),
        links=(LinkWrite("lead", "new-lead", lead_address=LEAD),),
        new_leads=(LeadWrite(LEAD, "Jan Nowak", None, users[ANNA.email]),),
    )


def _file_stray_mail(store: Store, d: _Directory, m: dict[str, int]) -> None:
    """An email matched to nothing, and one brought in by another team's rule with Anna's alias in Cc."""
    pawel, eva, wolf = d.submitter(PAWEL), d.submitter(EVA), d.wolf
    # Paweł writes to a stranger, without a Date header: filed nowhere, sorted by when it was filed.
    m["unmatched"] = file_message(
        store,
        submitter=pawel,
        key="<6@crm>",
        subject="Hello",
        date=None,
        participants=(person("from", PAWEL.email), person("to", "stranger@example.net")),
    )
    # Eva's mailbox rule brings Wolf's mail, with Anna's alias in Cc.
    m["eva_alias_anna"] = file_message(
        store,
        submitter=eva,
        key="<7@wolf>",
        subject="Wolf pack",
        date=day(7),
        kind="redirect",
        direction="incoming",
        sender=("wolf@example.org", WOLF.name),
        participants=(
            person("from", "wolf@example.org", WOLF.name, ("contact", wolf)),
            person("to", EVA.email),
            person("cc", ANNA.aliases[0]),
        ),
        links=(LinkWrite("contact", "address", entity_id=wolf),),
    )


def _file_repeated_and_solo_mail(store: Store, d: _Directory, m: dict[str, int]) -> None:
    """An email submitted twice by users of different teams, and the mail of a user without a team."""
    pawel, jan, solo = d.submitter(PAWEL), d.submitter(JAN), d.submitter(SOLO)
    karel = d.karel
    # Karel writes to Jan; Paweł submits the same email again later (a second receipt: a user link only).
    twice = {
        "key": "<8@beta>",
        "subject": "Re: sklad",
        "date": day(8),
        "kind": "redirect",
        "direction": "incoming",
        "sender": ("karel@beta.cz", KAREL.name),
        "participants": (person("from", "karel@beta.cz", KAREL.name, ("contact", karel)), person("to", JAN.email)),
        "links": (LinkWrite("contact", "address", entity_id=karel),),
    }
    m["twice"] = file_message(store, submitter=jan, **twice)  # type: ignore[arg-type]
    again = file_message(store, submitter=pawel, **{**twice, "participants": ()})  # type: ignore[arg-type]
    assert again == m["twice"]
    m["solo"] = file_message(
        store, submitter=solo, key="<9@crm>", subject="Solo", date=day(1), participants=(person("from", SOLO.email),)
    )


def build_world(store: Store) -> World:
    """Two teams, two clients, and nine emails whose visibility differs per viewer (filed in this order)."""
    d = _apply_directory(store)
    m: dict[str, int] = {}
    _file_team_pl_mail(store, d, m)
    _file_cross_team_mail(store, d, m)
    _file_stray_mail(store, d, m)
    _file_repeated_and_solo_mail(store, d, m)
    (lead,) = store.directory.find_people([LEAD]).leads.values()
    return World(d.users, d.acme, d.beta, d.piotr, d.karel, d.wolf, d.deal, d.warehouse, lead.id, m)


def listed(store: Store, viewer: Viewer, f: MessageFilter | None = None) -> set[int]:
    rows = list(store.queries.iter_messages(viewer, f or MessageFilter()))
    ids = [row.id for row in rows]
    assert len(ids) == len(set(ids))
    return set(ids)


#: Who sees what (DESIGN.md, "Visibility"), by message name.
VISIBLE = {
    ADA.email: {"to_piotr", "deal", "client_direct", "beta", "cc_jan", "unmatched", "eva_alias_anna", "twice", "solo"},
    # Team PL (Ada, Anna, Paweł): what they submitted, a user link (Paweł's second receipt), Anna's alias in Cc.
    ANNA.email: {"to_piotr", "deal", "client_direct", "cc_jan", "unmatched", "eva_alias_anna", "twice"},
    # Paweł alone: what he submitted, and the email he sent in a second time.
    PAWEL.email: {"deal", "unmatched", "twice"},
    # Jan alone: what he submitted, and Anna's mail with him in Cc.
    JAN.email: {"beta", "cc_jan", "twice"},
    # Team CZ (Jan, Eva): theirs, plus Anna's mail with Jan in Cc.
    EVA.email: {"beta", "cc_jan", "eva_alias_anna", "twice"},
    # A team role without a team: its own mail only.
    SOLO.email: {"solo"},
}
