"""``mailassist explain`` (plan as JSON, nothing stored) and ``mailassist reprocess`` (failed → linked, relink)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailassist.build import make_processor
from mailassist.cli import cli
from mailassist.config import load_config
from store import Store
from store.models import Inbound, Lead, Link, Message
from store.shapes import ContactRow
from tests.conftest import FIXTURES

E2E = FIXTURES / "e2e"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n'
        '[assistant]\naddresses = ["assistant@crm.example.com"]\n'
        '[organization]\ndomains = ["example.com"]\n[codes]\nOP = "deal"\n'
    )
    return path


def _import(config: Path, tmp_path: Path, kind: str, csv: str) -> str:
    (tmp_path / f"{kind}.csv").write_text(csv)
    result = CliRunner().invoke(cli, ["--config", str(config), "import", kind, str(tmp_path / f"{kind}.csv")])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_explain_one_file_prints_the_plan_and_stores_nothing(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _import(config, tmp_path, "users", "email,name,team,role,aliases\nanna.nowak@example.com,Anna Nowak,,all,\n")
    _import(config, tmp_path, "clients", "name,domains,emails\nAcme Logistics,acme-logistics.pl,\n")
    _import(config, tmp_path, "records", "code,type,title,client\nOP-123,deal,Fleet,Acme Logistics\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "explain", str(E2E / "bcc_outgoing_pl.eml")])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["decision"] == "accept"
    assert (plan["kind"], plan["direction"], plan["submitter"]) == ("bcc", "outgoing", "anna.nowak@example.com")
    assert plan["original"]["subject"] == "Oferta na odnowienie floty OP-123"
    assert plan["codes"] == [{"code": "OP-123", "type": "deal", "resolved": True, "record": 1}]
    assert {"type": "record", "id": 1, "label": "OP-123", "reason": "code"} in plan["links"]
    assert {"type": "client", "id": 1, "label": "Acme Logistics", "reason": "domain"} in plan["links"]
    assert {p["address"]: p["match"]["via"] if p["match"] else None for p in plan["participants"]} == {
        "anna.nowak@example.com": "user",
        "jan.kowalski@acme-logistics.pl": "client-domain",
        "ewa.zielinska@acme-logistics.pl": "client-domain",
    }
    assert plan["new_leads"] == []
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    try:
        assert store.receipts.list_inbound() == []
        with Session(store.engine) as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 0
    finally:
        store.close()


def test_explain_several_files_is_json_lines_and_goes_on_past_errors(tmp_path: Path) -> None:
    config = _config(tmp_path)
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"")
    files = [str(E2E / "forward_inline_outlook_pl.eml"), str(tmp_path / "missing.eml"), str(garbage)]
    result = CliRunner().invoke(cli, ["--config", str(config), "explain", *files])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == files
    first = lines[0]
    # Parsing and unwrapping are reported even though nobody known submitted it
    assert first["decision"] == "reject"
    assert first["forwarded"] == "inline"
    assert first["original"]["from"] == {"name": "Tomasz Wiśniewski", "address": "t.wisniewski@nowa-firma.pl"}
    assert first["original"]["note"] == "Nowy klient, proszę o wpis do CRM."
    assert lines[1]["error"].startswith("FileNotFoundError")
    assert lines[2]["error"] == "NotAnEmailError: not an email: empty file"


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"


@pytest.mark.parametrize(
    ("name", "make", "says"),
    [
        ("logo.png", lambda p: p.write_bytes(PNG), "not an email: no header and not text"),
        ("empty.eml", lambda p: p.write_bytes(b""), "not an email: empty file"),
        (
            "notes.txt",
            lambda p: p.write_text("Zadzwonić do Jana w piątek.\nCena: do ustalenia.\n"),
            "not an email: no From",
        ),
        ("folder.eml", lambda p: p.mkdir(), "Is a directory"),
        ("missing.eml", lambda p: None, "No such file or directory"),
    ],
)
def test_explain_on_what_is_not_an_email_says_so_in_one_line(
    tmp_path: Path, name: str, make: Callable[[Path], object], says: str
) -> None:
    config = _config(tmp_path)
    path = tmp_path / name
    make(path)
    result = CliRunner().invoke(cli, ["--config", str(config), "explain", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("mailassist: ")]
    assert len(errors) == 1 and errors[0].startswith(f"mailassist: explain {path}: {says}"), result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["file"] == str(path)


def test_reprocess_failed_after_the_missing_user_is_imported(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        raw = (E2E / "bcc_outgoing_pl.eml").read_bytes()
        inbound = store.receipts.add_inbound(
            raw, mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        # Given a receipt that failed because its user was deleted from the directory before processing
        make_processor(load_config(config), store).process_now(inbound.id)
        failed = store.receipts.get_inbound(inbound.id)
        assert failed is not None and failed.status == "failed"
        assert failed.last_error == "no registered user sent or received this message"
        # When the user is imported and the failed receipts are reprocessed
        _import(config, tmp_path, "users", "email,name,team,role,aliases\nanna.nowak@example.com,Anna,,all,\n")
        result = CliRunner().invoke(cli, ["--config", str(config), "reprocess", "--failed"])
        assert result.exit_code == 0, result.output
        assert f"{inbound.id}: failed -> linked" in result.output
        linked = store.receipts.get_inbound(inbound.id)
        assert linked is not None and linked.status == "linked"
    finally:
        store.close()


def test_relink_attaches_lead_history_to_a_new_contact_once(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _import(config, tmp_path, "users", "email,name,team,role,aliases\nanna.nowak@example.com,Anna,,all,\n")
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        processor = make_processor(load_config(config), store)
        raw = (E2E / "new_lead_cz_1.eml").read_bytes()
        inbound = store.receipts.add_inbound(
            raw, mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        processor.process_now(inbound.id)
        with Session(store.engine) as s:
            assert s.scalars(select(Lead.address)).all() == ["petra.svobodova@novyklient.cz"]
        _import(config, tmp_path, "clients", "name,domains,emails\nNovy Klient,novyklient.cz,\n")
        # The contacts import relinks what it changed by itself
        imported = _import(
            config,
            tmp_path,
            "contacts",
            "name,emails,client\nPetra Svobodová,petra.svobodova@novyklient.cz,Novy Klient\n",
        )
        assert imported.endswith(
            "relink: 0 codes resolved, 1 lead converted, 0 participants matched; 2 links added "
            "(0 record, 1 contact, 1 client)"
        )
        again = CliRunner().invoke(cli, ["--config", str(config), "reprocess", "--relink"])
        assert again.exit_code == 0, again.output
        assert "relink: 0 codes resolved, 0 leads converted, 0 participants matched; 0 links added" in again.output
        with Session(store.engine) as s:
            lead = s.scalars(select(Lead)).one()
            assert lead.converted_contact_id is not None and lead.converted_at is not None
            types = sorted(s.scalars(select(Link.entity_type)).all())
        assert types == ["client", "contact", "lead", "user"]
    finally:
        store.close()


def test_reprocess_needs_something_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(_config(tmp_path)), "reprocess"])
    assert result.exit_code == 2
    assert "--failed, --id ID, --relink, --split-merged or --renormalize" in result.output


def test_renormalize_then_relink_merges_a_lead_into_a_contact_imported_in_unicode(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _import(config, tmp_path, "users", "email,name,team,role,aliases\nanna.nowak@example.com,Anna,,all,\n")
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        # Given a contact an older import kept in Unicode, and mail naming her as A-labels: a duplicate lead
        store.directory.apply_contacts(
            [ContactRow(line=2, name="Zofia Wiśniewska", emails=("zofia.wisniewska@żabka.test",))]
        )
        raw = (FIXTURES / "linker" / "names_idn" / "python_emailmessage_cs.eml").read_bytes()
        inbound = store.receipts.add_inbound(
            raw, mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        make_processor(load_config(config), store).process_now(inbound.id)
        zofia = "zofia.wisniewska@xn--abka-99a.test"
        with Session(store.engine) as s:
            assert zofia in s.scalars(select(Lead.address)).all()

        # When the stored data is renormalized, then relinked
        result = CliRunner().invoke(cli, ["--config", str(config), "reprocess", "--renormalize", "--relink"])

        # Then the contact has the matching form and the lead is converted to her
        assert result.exit_code == 0, result.output
        assert "renormalize: 0 names or subjects decoded, 1 addresses or domains in matching form" in result.output
        assert "relink: 0 codes resolved, 1 lead converted" in result.output
        with Session(store.engine) as s:
            lead = s.scalars(select(Lead).where(Lead.address == zofia)).one()
            assert lead.converted_contact_id is not None
            assert lead.name == "Zofia Wiśniewska"
    finally:
        store.close()


def test_explain_a_receipt_uses_the_submitter_the_gateway_proved_and_shows_its_auth(tmp_path: Path) -> None:
    from store import Trust

    config = _config(tmp_path)
    _import(config, tmp_path, "users", "email,name,team,role,aliases\nanna.nowak@example.com,Anna Nowak,,all,\n")
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        # A client's mail, from a forwarding rule, that Anna's personal address proved (From is not her)
        raw = (E2E / "new_lead_cz_1.eml").read_bytes()
        auth = {"route": "secret-address", "via": "secret-address", "detail": "personal address"}
        inbound = store.receipts.add_inbound(
            raw,
            mail_from="someone@elsewhere.test",
            rcpt_tos=["assistant+abcdefghijklmnopqrstuvwx@crm.example.com"],
            trust=Trust("anna.nowak@example.com", "secret-address", auth),
        )
    finally:
        store.close()

    result = CliRunner().invoke(cli, ["--config", str(config), "explain", "--id", inbound.id, "--id", "nope"])

    assert result.exit_code == 1
    plan, missing = (json.loads(line) for line in result.stdout.splitlines())
    assert (plan["id"], plan["decision"], plan["submitter"]) == (inbound.id, "accept", "anna.nowak@example.com")
    assert plan["reason"] == "submitted by anna.nowak@example.com (via secret-address)"
    assert plan["auth"] == {"proof": "secret-address", "submitter": "anna.nowak@example.com", **auth}
    assert missing == {"id": "nope", "error": "LookupError: no receipt nope"}


def test_explain_a_file_has_no_auth_unless_asked(tmp_path: Path) -> None:
    config = _config(tmp_path)

    result = CliRunner().invoke(cli, ["--config", str(config), "explain", str(E2E / "bcc_outgoing_pl.eml")])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["auth"] is None


def _merge_as_the_old_rule_did(config: Path, tmp_path: Path) -> tuple[str, str]:
    """Anna's confidential mail, filed; then Bogdan's own mail under its Message-ID, merged into Anna's email as the
    old rule (Message-ID alone) did. Returns the two receipts' ids."""
    import dataclasses

    _import(
        config,
        tmp_path,
        "users",
        "email,name,team,role,aliases\nanna.nowak@example.com,Anna,PL,own,\nbogdan.novak@example.com,Bogdan,CZ,own,\n",
    )
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        processor = make_processor(load_config(config), store)
        pricing = (
            b"From: anna.nowak@example.com\r\nTo: john@acme.test\r\nSubject: OP-999 confidential pricing\r\n"
            b"Message-ID: <X-1@example.com>\r\n\r\nOur best price is 41,200 EUR per vehicle, between us please.\r\n"
        )
        reuse = (
            b"From: bogdan.novak@example.com\r\nTo: mallory@evil.test\r\nSubject: x\r\n"
            b"Message-ID: <X-1@example.com>\r\n\r\nx\r\n"
        )
        first = store.receipts.add_inbound(
            pricing, mail_from="anna.nowak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        processor.process_now(first.id)
        second = store.receipts.add_inbound(
            reuse, mail_from="bogdan.novak@example.com", rcpt_tos=["assistant@crm.example.com"]
        )
        plan = processor.pipeline(second, reuse).write
        with Session(store.engine) as s:
            annas = s.get(Inbound, first.id).message_id  # type: ignore[union-attr]
            old_key = s.get(Message, annas).dedupe_key  # type: ignore[union-attr]
        assert plan is not None and plan.message is not None
        merged = dataclasses.replace(plan, message=dataclasses.replace(plan.message, dedupe_key=old_key))
        assert store.filing.apply_plan(second.id, merged).message_id == annas
    finally:
        store.close()
    return first.id, second.id


def test_reprocess_split_merged_refiles_an_email_that_swallowed_another(tmp_path: Path) -> None:
    config = _config(tmp_path)
    # Given Bogdan's copy merged into Anna's email, as the old rule (Message-ID alone) did
    first_id, second_id = _merge_as_the_old_rule_did(config, tmp_path)

    # When the merged emails are split
    result = CliRunner().invoke(cli, ["--config", str(config), "reprocess", "--split-merged"])
    again = CliRunner().invoke(cli, ["--config", str(config), "reprocess", "--split-merged"])

    assert result.exit_code == 0, result.output
    assert "2 receipts were not one email; refiled" in result.output
    assert again.stdout.strip().endswith("split-merged: 0 emails refiled from their receipts, 0 given today's keys")
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    store.open()
    try:
        with Session(store.engine) as s:
            receipts = [s.get(Inbound, i) for i in (first_id, second_id)]
            assert [r.status for r in receipts if r] == ["linked", "linked"]
            anna_message, bogdan_message = (r.message_id for r in receipts if r)
            assert anna_message != bogdan_message
            links = s.execute(select(Link.entity_type, Link.entity_id).where(Link.message_id == anna_message)).all()
            lead_ids = [eid for kind, eid in links if kind == "lead"]
            assert s.scalars(select(Lead.address).where(Lead.id.in_(lead_ids))).all() == ["john@acme.test"]
            assert len([1 for kind, _ in links if kind == "user"]) == 1
    finally:
        store.close()
