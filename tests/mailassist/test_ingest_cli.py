"""``mailassist ingest``: back-filling history from .eml files, directories and mbox exports, through the intake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailassist.cli import cli
from store import Store, Trust
from store.shapes import UserRow
from tests.conftest import FIXTURES

INGEST = FIXTURES / "ingest"
ANNA = "anna.nowak@example.com"


@pytest.fixture
def config(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n'
        '[assistant]\naddresses = ["assistant@crm.example.com"]\n[organization]\ndomains = ["example.com"]\n'
    )
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open(upgrade=True)
    store.directory.apply_users([UserRow(2, ANNA, "Anna Nowak", None, "all", aliases=("anna@example.com",))])
    store.close()
    yield str(path)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        yield store
    finally:
        store.close()


def ingest(config: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", config, "ingest", *args])


def test_an_export_is_taken_with_new_duplicates_and_refusals_counted(config: str, tmp_path: Path) -> None:
    # Given an mbox whose third message repeats the first, an .eml, a directory with a PNG, and an empty file
    result = ingest(
        config, str(INGEST / "export.mbox"), str(INGEST / "offer_to_acme.eml"), str(INGEST / "export_dir"),
        str(INGEST / "empty.eml"), "--as", ANNA,
    )  # fmt: skip
    # Then every readable email is a new receipt, the repeat a duplicate, and each bad file one line on stderr
    assert result.exit_code == 1, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "ingest: 8 messages: 5 new, 1 duplicate, 2 refused (not_an_email: 2)"
    )
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"mailassist: ingest {INGEST / 'export_dir' / '3_logo.png'}: 554 5.6.0 Not an email")
    assert errors[1].startswith(f"mailassist: ingest {INGEST / 'empty.eml'}: 554 5.6.0 Not an email: empty")
    assert "Traceback" not in result.output

    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        receipts = store.receipts.list_inbound(limit=100, newest_first=False)
    finally:
        store.close()
    assert len(receipts) == 5
    assert {(r.source, r.proof, r.submitter, r.status) for r in receipts} == {("file", "file", ANNA, "queued")}
    # The mbox's envelope sender is kept; the From_ line is not part of the stored message
    first = receipts[0]
    assert first.mail_from == ANNA
    assert first.rcpt_tos == ()


def test_the_same_export_twice_is_all_duplicates(config: str, opened: Store) -> None:
    first = ingest(config, str(INGEST / "offer_to_acme.eml"), str(INGEST / "export.mbox"), "--as", "anna@example.com")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().endswith("3 new, 1 duplicate, 0 refused")

    again = ingest(config, str(INGEST / "offer_to_acme.eml"), str(INGEST / "export.mbox"), "--as", ANNA)

    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "ingest: 4 messages: 0 new, 4 duplicates, 0 refused"
    assert len(opened.receipts.list_inbound()) == 3

    # And explain --id says where a receipt came from
    (receipt, *_rest) = opened.receipts.list_inbound()
    explained = CliRunner().invoke(cli, ["--config", config, "explain", "--id", receipt.id])
    assert explained.exit_code == 0, explained.output
    assert json.loads(explained.stdout)["source"] == "file"
    listed = CliRunner().invoke(cli, ["--config", config, "queue", "--json"])
    assert {r["source"] for r in json.loads(listed.stdout)} == {"file"}


def test_a_message_smtp_took_already_is_a_duplicate(config: str, opened: Store) -> None:
    raw = (INGEST / "offer_to_acme.eml").read_bytes()
    opened.receipts.add_inbound(raw, mail_from=ANNA, rcpt_tos=["assistant@crm.example.com"], trust=Trust(ANNA, "dkim"))

    result = ingest(config, str(INGEST / "offer_to_acme.eml"), "--as", ANNA)

    assert result.exit_code == 0, result.output
    assert "0 new, 1 duplicate" in result.stdout
    assert [r.source for r in opened.receipts.list_inbound()] == ["smtp"]


def test_a_missing_file_is_one_line_and_the_run_goes_on(config: str) -> None:
    result = ingest(config, str(INGEST / "nope.eml"), str(INGEST / "offer_to_acme.eml"), "--as", ANNA)

    assert result.exit_code == 1
    assert result.stderr.strip() == f"mailassist: ingest {INGEST / 'nope.eml'}: no such file"
    assert result.stdout.strip() == "ingest: 2 messages: 1 new, 0 duplicates, 0 refused, 1 unreadable"


def test_only_a_registered_user_can_be_vouched_for(config: str, opened: Store) -> None:
    result = ingest(config, str(INGEST / "offer_to_acme.eml"), "--as", "mallory@example.com")

    assert result.exit_code == 1
    assert result.output.strip() == (
        "mailassist: ingest --as mallory@example.com: not a registered user ('mailassist import users' first)"
    )
    assert opened.receipts.list_inbound() == []
