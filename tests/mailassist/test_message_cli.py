"""``mailassist message show ID`` and ``mailassist message export ID``: a filed message as the message page shows
it, and the raw bytes of any stored message (an ignored receipt too), good for ``mailassist explain``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from mailassist.cli import cli
from store import LinkWrite, PlanWrite, Store
from tests.conftest import FIXTURES
from tests.mailassist.test_explain_reprocess import _config, _import
from tests.store.world import day, file_message

ANNA = "anna.nowak@example.com"
NEWSLETTER = FIXTURES / "e2e" / "newsletter_ignored.eml"


def _world(tmp_path: Path) -> tuple[Path, int, str, bytes]:
    """A filed message (Anna's, linked to Acme by domain) and an ignored receipt of a real newsletter:
    (config, message id, receipt id, the newsletter's bytes)."""
    config = _config(tmp_path)
    _import(config, tmp_path, "users", f"email,name,team,role,aliases\n{ANNA},Anna Nowak,,all,\n")
    _import(config, tmp_path, "clients", "name,domains,emails\nAcme Logistics,acme-logistics.pl,\n")
    store = Store(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "blobs")
    try:
        anna = store.directory.find_users_by_addresses([ANNA])[ANNA].id
        acme = store.directory.find_people(["someone@acme-logistics.pl"]).client_domains["acme-logistics.pl"].id
        message = file_message(
            store,
            submitter=(ANNA, anna),
            key="<offer@example.com>",
            subject="Oferta OP-123",
            date=day(2),
            links=(LinkWrite("client", "domain", entity_id=acme),),
        )
        raw = NEWSLETTER.read_bytes()
        receipt = store.receipts.add_inbound(
            raw, mail_from="news@lists.example.org", rcpt_tos=["assistant@crm.example.com"]
        )
        store.filing.apply_plan(receipt.id, PlanWrite(status="ignored", reason="List-Id header: a mailing list"))
    finally:
        store.close()
    return config, message, receipt.id, raw


def run(config: Path, *args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "message", *args])
    return result.exit_code, result.stdout_bytes, result.stderr


def test_show_gives_headers_links_with_reasons_receipts_and_the_sha256(tmp_path: Path) -> None:
    config, message, _, _ = _world(tmp_path)
    code, out, err = run(config, "show", str(message))
    text = out.decode()
    assert code == 0, err
    assert "Subject:    Oferta OP-123" in text
    assert "Acme Logistics  - domain" in text and "Anna Nowak  - submitter" in text
    assert "via smtp" in text and "linked" in text
    assert f"SHA-256:    {hashlib.sha256(b'<offer@example.com>').hexdigest()}" in text
    code, out, _ = run(config, "show", str(message), "--json")
    shown = json.loads(out)
    assert {(link["type"], link["reason"]) for link in shown["message"]["links"]} == {
        ("client", "domain"),
        ("user", "submitter"),
    }
    assert shown["receipt"]["source"] == "smtp"


def test_an_ignored_receipt_is_shown_unfiled_and_exported_byte_for_byte_for_explain(tmp_path: Path) -> None:
    config, _, receipt, raw = _world(tmp_path)
    code, out, err = run(config, "show", receipt)
    assert code == 0, err
    assert "(ignored)" in out.decode() and "Not filed as a message." in out.decode()
    code, out, err = run(config, "export", receipt)
    assert code == 0, err
    assert out == raw
    exported = tmp_path / "m.eml"
    exported.write_bytes(out)
    explained = CliRunner().invoke(cli, ["--config", str(config), "explain", str(exported)])
    assert explained.exit_code == 0, explained.output
    plan = json.loads(explained.stdout)
    assert plan["decision"] in ("accept", "ignore", "refuse") and plan["original"]["subject"]


def test_a_filed_message_exports_its_raw_bytes(tmp_path: Path) -> None:
    config, message, _, _ = _world(tmp_path)
    code, out, err = run(config, "export", str(message))
    assert (code, out) == (0, b"<offer@example.com>"), err


def test_an_unknown_id_is_one_line_on_stderr(tmp_path: Path) -> None:
    config, _, _, _ = _world(tmp_path)
    for key in ("999", "S0000000000000000"):
        code, out, err = run(config, "show", key)
        assert (code, out) == (1, b"")
        assert err == f"mailassist: no stored message or receipt {key!r}\n"
