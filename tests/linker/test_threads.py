"""Threading (``linker/threads.py``): what a reply inherits, from which filed message, and how much is looked up."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from linker.directory import Contact, Entity, FiledMessage, MemoryDirectory, Record, ThreadLink, User
from linker.explain import explain_message
from linker.pipeline import Envelope
from linker.settings import LinkerSettings
from linker.threads import MAX_THREAD_IDS, thread_keys, thread_links
from tests.conftest import FIXTURES

THREADS = FIXTURES / "threads"
OFFER_ID = "AM9PR03MB74210A1B2C3D4E5F6A7B8C9D0E1F2@AM9PR03MB7421.eurprd03.prod.outlook.example"
ANNA = User(1, "anna.nowak@example.com", "Anna Nowak")
PETR = User(2, "petr.svoboda@example.com", "Petr Svoboda")
SETTINGS = LinkerSettings.build(
    assistant_addresses=["assistant@crm.example.com"], organization_domains=["example.com"], codes={"OP": "deal"}
)


def _directory(visible_to: Iterable[int]) -> MemoryDirectory:
    """Anna's offer to Jan (Acme, OP-123) is filed as message 7, visible to ``visible_to``."""
    return MemoryDirectory(
        users={ANNA.email: ANNA, PETR.email: PETR},
        contacts={"jan.kowalski@acme-logistics.test": Contact(3, "Jan Kowalski", 5, "Acme Logistics")},
        client_domains={"acme-logistics.test": Entity(5, "Acme Logistics")},
        records={"OP-123": Record(9, "OP-123", "deal", 5, "Acme Logistics")},
        filed=[
            FiledMessage(
                7,
                OFFER_ID,
                (
                    ("record", 9, "OP-123"),
                    ("client", 5, "Acme Logistics"),
                    ("contact", 3, "Jan Kowalski"),
                    ("lead", 4, "someone@else.test"),
                    ("user", 1, "Anna Nowak"),
                ),
                frozenset(visible_to),
            )
        ],
    )


def _explain(name: str, user: User, directory: MemoryDirectory) -> dict[str, Any]:
    envelope = Envelope(user.email, ("assistant@crm.example.com",), user.email, "secret-address")
    return explain_message((THREADS / name).read_bytes(), SETTINGS, directory=directory, envelope=envelope)


def test_a_gmail_reply_inherits_the_threads_client_contact_and_deal() -> None:
    plan = _explain("reply_gmail_private_pl.eml", ANNA, _directory({ANNA.id}))
    thread = [k for k in plan["links"] if k["reason"] == "thread"]
    origin = {"id": 7, "message_id": OFFER_ID}
    assert thread == [
        {"type": "record", "id": 9, "label": "OP-123", "reason": "thread", "from_message": origin},
        {"type": "client", "id": 5, "label": "Acme Logistics", "reason": "thread", "from_message": origin},
        {"type": "contact", "id": 3, "label": "Jan Kowalski", "reason": "thread", "from_message": origin},
    ]
    # Leads and users of the thread are not inherited; other links carry no from_message
    assert all("from_message" not in k for k in plan["links"] if k["reason"] != "thread")


def test_nothing_is_inherited_from_a_message_the_submitter_may_not_see() -> None:
    # Given the offer, visible to Anna only, and Petr's mail naming it in In-Reply-To and References
    plan = _explain("forged_references_thunderbird_cs.eml", PETR, _directory({ANNA.id}))
    # Then nothing comes from it
    assert [k for k in plan["links"] if k["reason"] == "thread"] == []
    # While the same mail by someone who may see the offer does inherit
    plan = _explain("forged_references_thunderbird_cs.eml", PETR, _directory({ANNA.id, PETR.id}))
    assert {k["type"] for k in plan["links"] if k["reason"] == "thread"} == {"record", "client", "contact"}


def test_a_link_the_addresses_give_keeps_its_reason() -> None:
    # Jan's company address in the reply matches him directly: "address" wins over "thread"
    raw = (
        (THREADS / "reply_gmail_private_pl.eml")
        .read_bytes()
        .replace(b"jan.kowalski.prywatny@gmail.test", b"jan.kowalski@acme-logistics.test")
    )
    envelope = Envelope(ANNA.email, (), ANNA.email, "secret-address")
    plan = explain_message(raw, SETTINGS, directory=_directory({ANNA.id}), envelope=envelope)
    reasons = {(k["type"], k["id"]): k["reason"] for k in plan["links"]}
    assert reasons[("contact", 3)] == "address"
    assert reasons[("client", 5)] == "address"
    assert reasons[("record", 9)] == "thread"


def test_thread_keys_in_reply_to_first_then_newest_references_capped() -> None:
    references = [f"r{i}@mail.example" for i in range(300)]
    keys = thread_keys(["parent@mail.example"], [*references, "parent@mail.example"])
    assert len(keys) == MAX_THREAD_IDS
    assert keys[:3] == ("parent@mail.example", "r299@mail.example", "r298@mail.example")
    assert "r0@mail.example" not in keys
    # Longer than a stored Message-ID can be: never looked up
    assert thread_keys(["x" * 999 + "@a.test"], []) == ()


class _Counting(MemoryDirectory):
    asked: list[str]

    def find_thread_links(self, message_id_headers: Iterable[str], *, user_id: int, limit: int) -> list[ThreadLink]:
        self.asked = list(message_id_headers)
        return super().find_thread_links(self.asked, user_id=user_id, limit=limit)


def test_hundreds_of_references_cost_one_bounded_lookup() -> None:
    ids = "\r\n ".join(f"<{i:04d}.thread@mail.example>" for i in range(800))
    raw = (
        f"From: Anna Nowak <{ANNA.email}>\r\nTo: Jan <jan@acme-logistics.test>\r\nSubject: Re: Oferta\r\n"
        f"Message-ID: <last@mail.example>\r\nIn-Reply-To: <0799.thread@mail.example>\r\nReferences: {ids}\r\n\r\nOK\r\n"
    ).encode()
    directory = _Counting(users={ANNA.email: ANNA})
    explain_message(raw, SETTINGS, directory=directory, envelope=Envelope(ANNA.email, (), ANNA.email, "secret-address"))
    assert len(directory.asked) == MAX_THREAD_IDS
    assert directory.asked[0] == "0799.thread@mail.example"


def test_each_entity_once_from_the_first_message_that_gives_it() -> None:
    found = [
        ThreadLink(2, "older@x.test", "client", 5, "Acme"),
        ThreadLink(3, "parent@x.test", "client", 5, "Acme"),
        ThreadLink(2, "older@x.test", "record", 9, "OP-123"),
        ThreadLink(3, "parent@x.test", "lead", 4, "l@x.test"),
    ]
    links = thread_links(found, ["parent@x.test", "older@x.test"])
    assert [(k.type, k.id, k.thread_message) for k in links] == [("client", 5, 3), ("record", 9, 2)]
