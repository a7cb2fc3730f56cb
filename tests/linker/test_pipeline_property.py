"""Property: any input ends in a plan, or in a ``LinkerError`` (``UnreadableMessageError``, ``CpuLimitExceeded``:
the actor marks the message failed, once), within its CPU limit (``[linker] cpu_limit``, ``linker.budget``).

The same mutations as the parser's property test, over real-format forwards, BCCs and redirects, run through
the whole pipeline with a directory that knows the submitter, so classify, unwrap, codes and match all run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from linker.directory import Contact, Entity, MemoryDirectory, Record, User
from linker.errors import LinkerError
from linker.explain import plan_to_json
from linker.pipeline import Envelope, run_pipeline
from linker.settings import LinkerSettings
from tests.linker.test_parse_property import PROPERTY, mutated

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL = [path for folder in ("e2e", "parse", "linker") for path in sorted((FIXTURES / folder).glob("*.eml"))]
SETTINGS = LinkerSettings.build(
    assistant_addresses=["assistant@crm.example.com"],
    organization_domains=["example.com"],
    codes={"OP": "deal"},
    cpu_limit=2.0,  # the bench's goal for the worst message; the default is 10 s
)
#: How far past its limit a message may run: the budget is checked per part, header field, HTML piece and address.
CHECK_SLACK = 1.0
DIRECTORY = MemoryDirectory(
    users={"anna.nowak@example.com": User(1, "anna.nowak@example.com", "Anna Nowak")},
    contacts={"jan.kowalski@acme-logistics.pl": Contact(2, "Jan Kowalski", 3, "Acme Logistics")},
    client_domains={"globex.ro": Entity(4, "Globex")},
    records={"OP-123": Record(5, "OP-123", "deal", 3, "Acme Logistics")},
)
ENVELOPE = Envelope("anna.nowak@example.com", ("assistant@crm.example.com",))


def check(raw: bytes) -> None:
    start = time.thread_time()
    try:
        plan = run_pipeline(raw, envelope=ENVELOPE, settings=SETTINGS, directory=DIRECTORY)
    except LinkerError:  # a clean ``failed``
        return
    finally:
        assert SETTINGS.cpu_limit is not None
        assert time.thread_time() - start <= SETTINGS.cpu_limit + CHECK_SLACK
    json.dumps(plan_to_json(plan))  # explain can always print it
    assert plan.decision in ("accept", "reject", "ignore")
    assert plan.original is None or plan.original.date is None or plan.original.date.tzinfo is not None


def test_real_fixtures_all_plan() -> None:
    for path in REAL:
        check(path.read_bytes())


@PROPERTY
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check(raw)


@PROPERTY
@given(mutated(sources=[p.read_bytes() for p in REAL]))
def test_mutated_real_messages_never_raise(raw: bytes) -> None:
    check(raw)


def test_every_fixture_folder_of_real_mail_is_used() -> None:
    folders = {path.parent.name for path in REAL}
    assert folders == {"e2e", "parse", "linker"}, folders
