"""The cast and the helpers the pure linker step tests share: one installation, its users, and mail read from text.

Anna Nowak is the salesperson who submits mail; ``anna@example.com`` is her alias. Piotr Zieliński and Ioana
Munteanu are colleagues. ``example.com`` is our organization; ``crm.example.com`` hosts the assistant.
"""

from __future__ import annotations

from pathlib import Path

from linker.directory import Contact, Entity, MemoryDirectory, User
from linker.match import is_internal
from linker.model import ParsedMessage
from linker.parse import parse_message
from linker.settings import LinkerSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "linker"
ASSISTANT = "assistant@crm.example.com"
SETTINGS = LinkerSettings.build(
    assistant_addresses=[ASSISTANT], organization_domains=["example.com"], codes={"OP": "deal"}
)
ANNA = User(1, "anna.nowak@example.com", "Anna Nowak")
PIOTR = User(2, "piotr.zielinski@example.com", "Piotr Zieliński")
IOANA = User(3, "ioana.munteanu@example.com", "Ioana Munteanu")


def directory() -> MemoryDirectory:
    """Our users (Anna under her primary address and her alias, as the store returns them) and one client."""
    return MemoryDirectory(
        users={
            ANNA.email: ANNA,
            "anna@example.com": ANNA,
            PIOTR.email: PIOTR,
            IOANA.email: IOANA,
        },
        contacts={"jan.kowalski@acme-logistics.pl": Contact(10, "Jan Kowalski", 3, "Acme Logistics")},
        client_domains={"acme-logistics.pl": Entity(3, "Acme Logistics")},
    )


def mail(text: str) -> ParsedMessage:
    """Parse a message written as text (headers, a blank line, the body), sent with CRLF line ends as over SMTP."""
    return parse_message(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))


def load(name: str) -> ParsedMessage:
    """Parse ``tests/fixtures/linker/NAME``."""
    return parse_message((FIXTURES / name).read_bytes())


def internal(address: str) -> bool:
    """The pipeline's test for "one of us", over ``directory()``'s users and ``SETTINGS``."""
    normalized = SETTINGS.normalize(address)
    return is_internal(normalized, directory().find_users_by_addresses([normalized]), SETTINGS)
