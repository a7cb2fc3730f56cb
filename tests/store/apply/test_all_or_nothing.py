"""Applying a linker plan is all or nothing: a failure anywhere leaves no row, malformed input is refused first."""

from __future__ import annotations

import dataclasses
import os
import stat
from typing import Any

import pytest

from store import CodeWrite, LinkWrite, PlanError, PlanWrite, Store, StoreUnavailableError
from store import apply as apply_module
from tests.store.apply.support import LEAD, Ids, bcc, inbound, inbound_row, linked, nothing_filed


def test_a_database_error_mid_apply_leaves_nothing(store: Store, ids: Ids) -> None:
    receipt = inbound(store)
    # Given a plan whose code points at a record that does not exist (a foreign-key violation after the message)
    broken = dataclasses.replace(bcc(ids), codes=(CodeWrite("OP-999", 999_999),))

    with pytest.raises(StoreUnavailableError):
        store.filing.apply_plan(receipt, linked(broken))

    assert nothing_filed(store)
    assert inbound_row(store, receipt)[:3] == ("queued", None, None)
    # And a retry with a sound plan succeeds
    assert store.filing.apply_plan(receipt, linked(bcc(ids))).applied


def test_a_failure_after_the_leads_leaves_nothing(store: Store, ids: Ids, monkeypatch: pytest.MonkeyPatch) -> None:
    receipt = inbound(store)

    def fail(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("links went wrong")

    monkeypatch.setattr(apply_module, "_links", fail)
    with pytest.raises(RuntimeError):
        store.filing.apply_plan(receipt, linked(bcc(ids)))

    assert nothing_filed(store)
    assert inbound_row(store, receipt)[0] == "queued"


def test_a_plan_must_end_in_a_final_status(store: Store) -> None:
    receipt = inbound(store)

    with pytest.raises(PlanError, match="not a final status"):
        store.filing.apply_plan(receipt, PlanWrite(status="queued", reason=None))

    assert inbound_row(store, receipt)[0] == "queued"


def test_malformed_links_and_attachments_are_refused_before_any_write(store: Store, ids: Ids) -> None:
    receipt = inbound(store)
    good = bcc(ids)
    bad_links = [
        LinkWrite("lead", "new-lead", lead_address="not-in-the-plan@gmail.com"),
        LinkWrite("contact", "address"),
        LinkWrite("lead", "new-lead", entity_id=1, lead_address=LEAD),
        LinkWrite("contact", "address", lead_address=LEAD),
    ]
    for link in bad_links:
        with pytest.raises(PlanError):
            store.filing.apply_plan(receipt, linked(dataclasses.replace(good, links=(link,))))
    wrong_hash = dataclasses.replace(good.attachments[0], sha256="0" * 64)
    with pytest.raises(PlanError, match="sha256"):
        store.filing.apply_plan(receipt, linked(dataclasses.replace(good, attachments=(wrong_hash,))))

    assert nothing_filed(store)
    assert inbound_row(store, receipt)[0] == "queued"


def test_attachments_are_fsynced_then_their_directories_once(
    store: Store, ids: Ids, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.inline_max = 0  # both attachments files, as large ones are
    receipt = inbound(store)
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    store.filing.apply_plan(receipt, linked(bcc(ids)))
    files = [kind for kind in synced if kind == "file"]
    # Given two attachments: each file synced, then each directory of theirs once (two leaves, two fan-outs,
    # one root), not the chain again per file
    assert synced[: len(files)] == ["file", "file"]
    assert synced.count("dir") == 5
    for a in bcc(ids).attachments:
        assert store.content.get_blob(a.sha256) == a.data
