"""Every directory import ends by re-filing the past mail it affects (``store.relink``), and says how much."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailassist.build import make_processor
from mailassist.cli import cli
from mailassist.config import load_config
from store import Store
from store.models import Link, MessageCode, Participant
from store.shapes import RecordRow
from tests.conftest import FIXTURES

#: Anna's BCC of the offer OP-123 to two people at Acme (who become leads), and her offer "OP 456" to a billing
#: address an ignore rule keeps from becoming a lead.
MAIL = (FIXTURES / "e2e" / "bcc_outgoing_pl.eml", FIXTURES / "relink" / "offer_code_with_space_pl.eml")
NOTHING = (
    "relink: 0 codes resolved, 0 leads converted, 0 participants matched; 0 links added (0 record, 0 contact, 0 client)"
)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n'
        '[assistant]\naddresses = ["assistant@crm.example.com"]\n'
        '[organization]\ndomains = ["example.com"]\n'
        '[[linker.ignore]]\nname = "billing"\nmatch = "faktury@*"\n'
        '[codes.OP]\ntype = "deal"\nseparators = ["-", " "]\n'
    )
    return path


def _import(config: Path, tmp_path: Path, kind: str, csv: str, *options: str) -> list[str]:
    (tmp_path / f"{kind}.csv").write_text(csv)
    result = CliRunner().invoke(cli, ["--config", str(config), "import", kind, str(tmp_path / f"{kind}.csv"), *options])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()


def _links(store: Store, entity_type: str) -> set[tuple[int, int, str]]:
    stmt = select(Link.message_id, Link.entity_id, Link.reason).where(Link.entity_type == entity_type)
    with Session(store.engine) as s:
        return {(m, e, r) for m, e, r in s.execute(stmt)}


def _file_mail(store: Store, config: Path) -> None:
    """``MAIL`` filed through the real processor, before any record: both codes wait unresolved."""
    processor = make_processor(load_config(config), store)
    for path in MAIL:
        receipt = store.receipts.add_inbound(
            path.read_bytes(), mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        processor.process_now(receipt.id)
        assert (store.receipts.get_inbound(receipt.id) or receipt).status == "linked"
    with Session(store.engine) as s:
        codes = {c: r for c, r in s.execute(select(MessageCode.code, MessageCode.record_id))}
    assert codes == {"OP-123": None, "OP-456": None}  # "OP 456" is stored in its canonical form


def _import_the_billing_client(store: Store, config: Path, tmp_path: Path) -> None:
    """Import the client whose domain the billing address (ignored as a lead) is at; the import files that mail."""
    clients = _import(config, tmp_path, "clients", "name,domains,emails\nHurtownia,hurtownia-lodz.pl,\n")
    assert clients[1] == (
        "relink: 0 codes resolved, 0 leads converted, 1 participant matched; 1 link added "
        "(0 record, 0 contact, 1 client)"
    )
    ((_, _, reason),) = _links(store, "client")
    assert reason == "domain"
    with Session(store.engine) as s:
        match = s.execute(
            select(Participant.match_type, Participant.match_via).where(
                Participant.address == "faktury@hurtownia-lodz.pl"
            )
        ).one()
    assert tuple(match) == ("client", "client-domain")


def test_imports_file_the_mail_that_was_waiting_for_them(tmp_path: Path) -> None:
    config = _config(tmp_path)
    users = _import(config, tmp_path, "users", "email,name,team,role,aliases\nanna.nowak@example.com,Anna,,all,\n")
    assert len(users) == 1  # users are not filed on by address: nothing to relink, nothing said
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        # Given two messages filed before their records and the billing client were imported
        _file_mail(store, config)

        # A dry run checks, and relinks nothing
        dry = _import(config, tmp_path, "records", "code,type,title,client\nOP-123,deal,Fleet,\n", "--dry-run")
        assert dry == [f"{tmp_path / 'records.csv'}: 1 row: 1 created, 0 updated (dry run, nothing written)"]

        # When the records are imported
        records = _import(
            config, tmp_path, "records", "code,type,title,client\nOP-123,deal,Fleet,\nOP-456,deal,Dostawy,\n"
        )

        # Then both messages are filed on their records, and the import says so
        assert records[1] == (
            "relink: 2 codes resolved, 0 leads converted, 0 participants matched; 2 links added "
            "(2 record, 0 contact, 0 client)"
        )
        assert {reason for _, _, reason in _links(store, "record")} == {"code"}
        assert len(_links(store, "record")) == 2

        # When the billing address's client is imported: its domain files the mail that made no lead
        _import_the_billing_client(store, config, tmp_path)

        # And importing the same files again, or a whole relink, finds nothing left to do
        again = _import(
            config, tmp_path, "records", "code,type,title,client\nOP-123,deal,Fleet,\nOP-456,deal,Dostawy,\n"
        )
        assert again[1] == NOTHING
        whole = CliRunner().invoke(cli, ["--config", str(config), "reprocess", "--relink"])
        assert whole.exit_code == 0, whole.output
        assert whole.output.strip() == NOTHING
    finally:
        store.close()


def test_an_import_relinks_only_its_own_keys(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _import(config, tmp_path, "users", "email,name,team,role,aliases\nanna.nowak@example.com,Anna,,all,\n")
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        processor = make_processor(load_config(config), store)
        receipt = store.receipts.add_inbound(
            MAIL[0].read_bytes(), mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        processor.process_now(receipt.id)
        # Given OP-123 imported without relinking (as by an older version): its mail is still unresolved
        store.directory.apply_records([RecordRow(line=2, code="OP-123", type="deal", title="Fleet")])
        # When another record is imported, the relink looks at that record's code only
        other = _import(config, tmp_path, "records", "code,type,title,client\nOP-9,deal,Other,\n")
        assert other[1] == NOTHING
        assert _links(store, "record") == set()
        # And a whole relink files it
        whole = CliRunner().invoke(cli, ["--config", str(config), "reprocess", "--relink"])
        assert whole.output.strip().startswith("relink: 1 code resolved")
    finally:
        store.close()
