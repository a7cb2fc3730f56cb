"""What the pipeline may ask about the CRM directory. A protocol, so the pure core never touches a database.

``store.Store`` satisfies it structurally; ``MemoryDirectory`` serves tests, ``mailassist explain`` without a
database, and the forward evaluation. Every method takes a batch of keys: one lookup per kind per message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")

#: The links a reply inherits from the filed messages it answers.
THREAD_ENTITY_TYPES = ("record", "client", "contact")


class UserInfo(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...


class EntityInfo(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def label(self) -> str: ...


class ContactInfo(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def client_id(self) -> int | None: ...
    @property
    def client_name(self) -> str | None: ...


class LeadInfo(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def address(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def converted_contact_id(self) -> int | None: ...


class RecordInfo(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def client_id(self) -> int | None: ...
    @property
    def client_name(self) -> str | None: ...


class ThreadLinkInfo(Protocol):
    """A record, client or contact link of a filed message, and which message (``threads.py``)."""

    @property
    def message_id(self) -> int:
        """The filed message's id in the store."""
        ...

    @property
    def message_id_header(self) -> str:
        """Its Message-ID, as the reply names it (no angle brackets)."""
        ...

    @property
    def entity_type(self) -> str:
        """``record``, ``client`` or ``contact``."""
        ...

    @property
    def entity_id(self) -> int: ...
    @property
    def label(self) -> str:
        """The record's code, the client's or the contact's name."""
        ...


class PeopleInfo(Protocol):
    """What the directory knows about a set of normalised addresses (and their domains)."""

    @property
    def contacts(self) -> Mapping[str, ContactInfo]: ...
    @property
    def client_emails(self) -> Mapping[str, EntityInfo]: ...
    @property
    def leads(self) -> Mapping[str, LeadInfo]: ...
    @property
    def client_domains(self) -> Mapping[str, EntityInfo]:
        """By domain."""
        ...


class Directory(Protocol):
    """Batch lookups by normalised address, domain, code or Message-ID."""

    def find_users_by_addresses(self, addresses: Iterable[str]) -> Mapping[str, UserInfo]: ...
    def find_people(self, addresses: Iterable[str]) -> PeopleInfo:
        """Contacts, client addresses and leads for ``addresses``, and clients for their domains (one question,
        so a database answers it in one query)."""
        ...

    def find_records_by_codes(self, codes: Iterable[str]) -> Mapping[str, RecordInfo]: ...
    def find_thread_links(
        self, message_id_headers: Iterable[str], *, user_id: int, limit: int
    ) -> Sequence[ThreadLinkInfo]:
        """The record, client and contact links of filed messages with these Message-IDs that user ``user_id`` may
        see (``store.visibility``), at most ``limit`` of them."""
        ...


# --- an in-memory directory --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class Entity:
    id: int
    label: str


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    name: str
    client_id: int | None = None
    client_name: str | None = None


@dataclass(frozen=True, slots=True)
class Lead:
    id: int
    address: str
    name: str | None = None
    converted_contact_id: int | None = None


@dataclass(frozen=True, slots=True)
class Record:
    id: int
    code: str
    type: str
    client_id: int | None = None
    client_name: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadLink:
    message_id: int
    message_id_header: str
    entity_type: str
    entity_id: int
    label: str


@dataclass(frozen=True, slots=True)
class FiledMessage:
    """A filed message as the in-memory thread lookup sees it: its links, and who may see it."""

    id: int
    message_id_header: str
    #: ``(entity_type, entity_id, label)`` of each link.
    links: tuple[tuple[str, int, str], ...]
    #: Users who may see the message (the store decides this by role, team and participants).
    visible_to: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class People:
    contacts: dict[str, Contact]
    client_emails: dict[str, Entity]
    leads: dict[str, Lead]
    client_domains: dict[str, Entity]


@dataclass
class MemoryDirectory:
    """A directory held in dicts keyed the way the store keys them (lower-case addresses, upper-case codes)."""

    users: dict[str, User] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    client_emails: dict[str, Entity] = field(default_factory=dict)
    leads: dict[str, Lead] = field(default_factory=dict)
    client_domains: dict[str, Entity] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    #: Filed messages, for the thread lookup.
    filed: list[FiledMessage] = field(default_factory=list)

    @staticmethod
    def _pick(table: Mapping[str, T], keys: Iterable[str]) -> dict[str, T]:
        return {k: table[k] for k in keys if k in table}

    def find_users_by_addresses(self, addresses: Iterable[str]) -> dict[str, User]:
        return self._pick(self.users, addresses)

    def find_people(self, addresses: Iterable[str]) -> People:
        keys = set(addresses)
        return People(
            contacts=self._pick(self.contacts, keys),
            client_emails=self._pick(self.client_emails, keys),
            leads=self._pick(self.leads, keys),
            client_domains=self._pick(self.client_domains, {key.rpartition("@")[2] for key in keys}),
        )

    def find_records_by_codes(self, codes: Iterable[str]) -> dict[str, Record]:
        return self._pick(self.records, codes)

    def find_thread_links(self, message_id_headers: Iterable[str], *, user_id: int, limit: int) -> list[ThreadLink]:
        keys = set(message_id_headers)
        found = [
            ThreadLink(m.id, m.message_id_header, kind, entity_id, label)
            for m in self.filed
            if m.message_id_header in keys and user_id in m.visible_to
            for kind, entity_id, label in m.links
            if kind in THREAD_ENTITY_TYPES
        ]
        return found[:limit]
