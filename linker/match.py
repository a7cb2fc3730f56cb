"""Match each participant of the original email to the directory, and decide which addresses become leads.

Per external address, in order: a contact (and through it its client), a client's own address, a lead; the same
for the address without its ``+tag`` (``john+crm@acme.test`` as ``john@acme.test``: the exact address first); then
a client's domain (never a free-mail domain). What matches nothing becomes one lead, unless it is automated or
ignored. Internal addresses (users, our domains, the assistant) are never clients and never leads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from linker import budget
from linker.addresses import domain_of, guess_company, is_automated_address, untagged
from linker.directory import People, PeopleInfo, RecordInfo, ThreadLinkInfo, UserInfo
from linker.model import Code, Link, Mailbox, Match, NewLead, Original, Participant, Role
from linker.settings import LinkerSettings


@dataclass(frozen=True, slots=True)
class Lookups:
    """Everything the directory said about one message's addresses, domains, codes and thread."""

    users: Mapping[str, UserInfo] = field(default_factory=dict)
    #: Contacts, client addresses and leads by address, and clients by domain, as ``Directory.find_people`` said.
    people: PeopleInfo = field(default_factory=lambda: People({}, {}, {}, {}))
    records: Mapping[str, RecordInfo] = field(default_factory=dict)
    #: Links of the filed messages this one answers that the submitter may see (``threads.py``).
    thread: Sequence[ThreadLinkInfo] = ()


def people(original: Original, settings: LinkerSettings) -> list[tuple[Role, Mailbox, str]]:
    """``(role, mailbox, normalised address)`` for From, To and Cc, each address once, the assistant left out."""
    out: list[tuple[Role, Mailbox, str]] = []
    seen: set[str] = set()
    groups: list[tuple[Role, Sequence[Mailbox]]] = [
        ("from", [original.from_] if original.from_ else []),
        ("to", original.to),
        ("cc", original.cc),
    ]
    for role, mailboxes in groups:
        for mailbox in mailboxes:
            if not mailbox.address or "@" not in mailbox.address:
                continue
            address = settings.normalize(mailbox.address)
            if address in seen or settings.is_assistant(address):
                continue
            seen.add(address)
            out.append((role, mailbox, address))
    return out


def is_internal(address: str, users: Mapping[str, UserInfo], settings: LinkerSettings) -> bool:
    """A user's address, one of our domains, or the assistant."""
    return address in users or settings.is_org_domain(address) or settings.is_assistant(address)


def lookup_addresses(addresses: Sequence[str]) -> list[str]:
    """The addresses to ask the directory about: each as given, and without its ``+tag`` when it has one."""
    out = list(addresses)
    out += [base for base in map(untagged, addresses) if base is not None]
    return out


def _match_address(address: str, lookups: Lookups, suffix: str) -> tuple[Match | None, list[Link]]:
    """A contact, a client's own address or a lead with exactly this address; ``suffix`` marks the match's
    ``via`` (``-untagged``: found without the ``+tag``)."""
    contact = lookups.people.contacts.get(address)
    if contact is not None:
        links = [Link("contact", contact.id, contact.name, "address")]
        if contact.client_id is not None:
            links.append(Link("client", contact.client_id, contact.client_name or "", "address"))
        return Match("contact", contact.id, contact.name, "contact" + suffix), links
    client = lookups.people.client_emails.get(address)
    if client is not None:
        return Match("client", client.id, client.label, "client-email" + suffix), [
            Link("client", client.id, client.label, "address")
        ]
    lead = lookups.people.leads.get(address)
    if lead is not None:
        label = lead.name or lead.address
        return Match("lead", lead.id, label, "lead" + suffix), [Link("lead", lead.id, label, "address")]
    return None, []


def _match_external(address: str, lookups: Lookups, settings: LinkerSettings) -> tuple[Match | None, list[Link]]:
    match, links = _match_address(address, lookups, "")
    if match is not None:
        return match, links
    base = untagged(address)
    if base is not None:
        match, links = _match_address(base, lookups, "-untagged")
        if match is not None:
            return match, links
    domain = domain_of(address)
    by_domain = lookups.people.client_domains.get(domain)
    if by_domain is not None and domain not in settings.free_mail_domains:
        return Match("client", by_domain.id, by_domain.label, "client-domain"), [
            Link("client", by_domain.id, by_domain.label, "domain")
        ]
    return None, []


def _may_become_lead(address: str, automated: bool, settings: LinkerSettings) -> bool:
    if automated or is_automated_address(address):
        return False
    return not any(rule.matches_address(address) for rule in settings.ignore_rules)


def match_people(
    original: Original, lookups: Lookups, settings: LinkerSettings, *, automated: bool
) -> tuple[list[Participant], list[Link], list[NewLead]]:
    """Participants with their matches, the links they give, and the leads to create."""
    participants: list[Participant] = []
    links: list[Link] = []
    leads: list[NewLead] = []
    for role, mailbox, address in people(original, settings):
        budget.check()
        if is_internal(address, lookups.users, settings):
            user = lookups.users.get(address)
            match = Match("user", user.id, user.name, "user") if user else None
            participants.append(Participant(address, mailbox.name, role, True, match))
            continue
        match, found = _match_external(address, lookups, settings)
        participants.append(Participant(address, mailbox.name, role, False, match))
        links.extend(found)
        if match is None and _may_become_lead(address, automated, settings):
            company = guess_company(domain_of(address), settings.free_mail_domains)
            leads.append(NewLead(address, _lead_name(mailbox, address), company))
    return participants, links, leads


def _lead_name(mailbox: Mailbox, address: str) -> str | None:
    """The display name, unless it looks like an address: ``"john@acme.test" <attacker@evil.test>`` must not name
    a lead John (the lead is then named by its real address)."""
    name = (mailbox.name or "").strip().strip("'\"").strip()
    if not name or name.lower() == address or "@" in name or "\uff20" in name or "\ufe6b" in name:
        return None
    return name


def link_records(codes: Sequence[Code], thread: Sequence[Link]) -> list[Link]:
    """Links to resolved codes' records (reason ``code``), then to records the thread inherits (``thread``)."""
    links = [Link("record", c.record_id, c.code, "code") for c in codes if c.record_id is not None]
    linked = {link.id for link in links}
    links += [link for link in thread if link.type == "record" and link.id not in linked]
    return links


def unique_links(links: Sequence[Link]) -> tuple[Link, ...]:
    """Each entity once, keeping the first (most specific) reason."""
    seen: set[tuple[str, int | str]] = set()
    out = []
    for link in links:
        key = (link.type, link.id if link.id is not None else link.label)
        if key not in seen:
            seen.add(key)
            out.append(link)
    return tuple(out)
