"""Edges of the viewer's input: every parameter, cursor and path id out of range is a 400 (or a 404 for an id)
naming what was wrong, never a 500, a 503 or a CSV that stops midway; and what is behind the login is never cached.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from store import MessageFilter, Store, StoreUnavailableError
from tests.store.world import ADA, ANNA, World
from tests.web.conftest import log_in
from tests.web.test_pages_downloads import file_html
from web.app import create_app
from web.errors import RETRY_AFTER_SECONDS, FilterError
from web.export import CSV_COLUMNS
from web.filters import FILTER_PARAMS, parse_filter, parse_list_query
from web.params import MAX_ID

ClientFor = Callable[[str | None], TestClient]

#: Every parameter a message list reads; a 400 must name one of these.
LIST_PARAMS = (*FILTER_PARAMS, "after", "limit")
_ALERT = re.compile(r'role="alert">([^<]*)<')


def cursor(raw: str) -> str:
    """A cursor as ``store.cursors`` spells one, around any text."""
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def page_error(response_text: str) -> str:
    """The error message an HTML page shows (the 400 page, or the list page's alert)."""
    found = _ALERT.search(response_text)
    assert found is not None, response_text[:2000]
    return html.unescape(found.group(1))


def assert_clear_400(path: str, response_text: str, json_body: object | None, params: Mapping[str, str]) -> None:
    """A 400 names the parameter that was wrong, one the request did send, and says what it should be."""
    if json_body is not None:
        assert isinstance(json_body, dict)
        message, param = json_body["error"], json_body["param"]
        assert message.startswith(f"{param}: ") or param == "after"
    else:
        message = page_error(response_text)
        param = message.split(":", 1)[0]
    assert param in LIST_PARAMS, (path, message)
    assert param in params, (path, message, params)
    assert len(message) > len(param) + 10, message


# --- the parsers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param", "words"),
    [
        ({"from": "9999-12-31T23:59:59-14:00"}, "from", "from 0001-01-02 to 9999-12-30"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from", "from 0001-01-02 to 9999-12-30"),
        ({"to": "9999-12-31"}, "to", "from 0001-01-02 to 9999-12-30"),
        ({"to": "0001-01-01"}, "to", "from 0001-01-02 to 9999-12-30"),
        ({"from": "2026-13-01"}, "from", "must be a date"),
        ({"client": str(MAX_ID + 1)}, "client", f"from 1 to {MAX_ID}"),
        ({"submitter": "9" * 5000}, "submitter", f"from 1 to {MAX_ID}"),
        ({"record": "0"}, "record", f"from 1 to {MAX_ID}"),
        ({"lead": "-1"}, "lead", f"from 1 to {MAX_ID}"),
        ({"limit": "1" * 5000}, "limit", "from 1 to 200"),
        ({"limit": "0"}, "limit", "from 1 to 200"),
        ({"limit": "٣"}, "limit", "from 1 to 200"),
    ],
)
def test_out_of_range_values_are_filter_errors(params: dict[str, str], param: str, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_list_query(params)
    assert caught.value.param == param
    assert str(caught.value).startswith(f"{param}: ")
    assert words in str(caught.value)


def test_dates_at_the_edges_of_the_range_still_work() -> None:
    f = parse_filter({"from": "0001-01-02T00:00:00+14:00", "to": "9999-12-30"})
    assert f.date_from == datetime(1, 1, 1, 10, tzinfo=UTC)
    assert f.date_to == datetime(9999, 12, 31, tzinfo=UTC)
    f = parse_filter({"from": "9999-12-30T23:59:59.999999-14:00"})
    assert f.date_from == datetime(9999, 12, 31, 13, 59, 59, 999999, tzinfo=UTC)
    assert f.date_from.tzinfo is UTC


def test_a_date_with_an_offset_is_kept_as_the_same_instant_in_utc() -> None:
    f = parse_filter({"from": "2026-03-02T10:30:00+02:00"})
    assert f == MessageFilter(date_from=datetime(2026, 3, 2, 8, 30, tzinfo=UTC))
    assert f.date_from == datetime(2026, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=2)))


def test_leading_zeros_do_not_make_a_number_too_long() -> None:
    assert parse_list_query({"limit": "0000000000000000000007"}).limit == 7
    assert parse_filter({"client": "000000000000000000000042"}).client_id == 42


# --- the routes ----------------------------------------------------------------------------------------------------

EDGE_DATES = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31", "0001-01-01")
BAD_QUERIES = [
    *({"from": when} for when in EDGE_DATES),
    *({"to": when} for when in EDGE_DATES),
    {"limit": "1" * 5000},
    {"client": "99999999999"},
    {"contact": str(2**63)},
    {"after": cursor("m|9999-12-31T23:59:59-14:00|1")},
    {"after": cursor("m|0001-01-01T00:00:00+14:00|1")},
    {"after": cursor(f"m|2026-01-01T00:00:00+00:00|{2**31}")},
    {"after": cursor(f"m|2026-01-01T00:00:00+00:00|{2**63}")},
    {"after": cursor("m|2026-01-01T00:00:00|1")},
]


@pytest.mark.parametrize("params", BAD_QUERIES, ids=lambda p: next(iter(p)))
def test_out_of_range_parameters_are_a_400_everywhere(
    world: World, client_for: ClientFor, params: dict[str, str]
) -> None:
    ada = client_for(ADA.email)
    page = ada.get("/messages", params=params)
    assert page.status_code == 400
    assert_clear_400("/messages", page.text, None, params)

    api = ada.get("/api/messages", params=params)
    assert api.status_code == 400
    assert_clear_400("/api/messages", api.text, api.json(), params)

    history = ada.get(f"/api/clients/{world.acme}/history", params=params)
    assert history.status_code == 400

    export = ada.get("/messages.csv", params=params)
    if "after" in params or "limit" in params:
        # The export is every message of the filter: it reads no paging parameters at all.
        assert export.status_code == 200
    else:
        assert export.status_code == 400
        assert export.headers["content-type"].startswith("text/html")
        assert_clear_400("/messages.csv", export.text, None, params)


@pytest.mark.parametrize(
    "after",
    [cursor("l|9999-12-31T23:59:59-14:00|1"), cursor(f"l|2026-01-01T00:00:00+00:00|{2**40}"), "%%%", "x" * 500],
)
def test_forged_lead_and_timeline_cursors_are_a_400(world: World, client_for: ClientFor, after: str) -> None:
    ada = client_for(ADA.email)
    assert ada.get("/api/leads", params={"after": after}).status_code == 400
    assert ada.get("/leads", params={"after": after}).status_code == 400
    assert ada.get(f"/clients/{world.acme}", params={"after": after}).status_code == 400


@pytest.mark.parametrize("limit", ["1" * 5000, "1001", "0"])
def test_out_of_range_limits_of_the_other_lists_are_a_400(world: World, client_for: ClientFor, limit: str) -> None:
    ada = client_for(ADA.email)
    for path in ("/api/leads", "/api/inbound", "/inbound"):
        response = ada.get(path, params={"limit": limit})
        assert response.status_code == 400, path
        assert "limit: must be a whole number from 1 to" in html.unescape(response.text)


@pytest.mark.parametrize("digits", [11, 19, 30, 1001, 5000])
def test_huge_path_ids_are_not_found(world: World, client_for: ClientFor, digits: int) -> None:
    ada = client_for(ADA.email)
    big = "9" * digits
    for path in (
        f"/messages/{big}",
        f"/messages/{big}/html",
        f"/messages/{big}/raw.eml",
        f"/messages/{world.m['to_piotr']}/attachments/{big}",
        f"/messages/{big}/cid/x@y",
        f"/clients/{big}",
        f"/leads/{big}",
    ):
        assert ada.get(path).status_code == 404, path
    for path in (f"/api/messages/{big}", f"/api/clients/{big}/history", f"/api/records/{big}"):
        response = ada.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": "not found"}


def test_a_huge_path_id_still_asks_an_anonymous_visitor_to_log_in(world: World, client_for: ClientFor) -> None:
    response = client_for(None).get("/messages/" + "9" * 5000)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_a_long_content_id_of_digits_still_reaches_its_route(world: World, client_for: ClientFor) -> None:
    response = client_for(ADA.email).get(f"/messages/{world.m['to_piotr']}/cid/{'1' * 900}")
    assert response.status_code == 404
    assert "Not Found" not in response.text  # the app's own 404 page, not the router's


def test_a_csv_export_whose_first_page_fails_is_an_error_not_a_short_200(
    store: Store, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database that fails when the export reads its first page
    def failing(*args: object, **kwargs: object) -> object:
        raise StoreUnavailableError("OperationalError: database is locked")

    app = create_app(store, secret_key="test-secret-key-" + "x" * 32)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        log_in(client, ANNA.email)
        monkeypatch.setattr(store.queries, "list_messages", failing)

        # When the CSV is asked for
        response = client.get("/messages.csv")

    # Then the answer is the outage's 503 with when to retry, not a 200 whose body is cut short
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert not response.text.startswith(",".join(CSV_COLUMNS))


# --- fuzz ----------------------------------------------------------------------------------------------------------

#: Deterministic (the same examples every run, no example database on disk).
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
_instants = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 3)),
    st.datetimes(min_value=datetime(9999, 12, 29), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
    st.datetimes(),
)
_aware_dates = st.builds(lambda when, tz: when.replace(tzinfo=tz).isoformat(), _instants, _offsets)
_dates = st.one_of(
    _aware_dates,
    _instants.map(lambda when: when.isoformat()),
    _instants.map(lambda when: when.date().isoformat()),
)
_numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", str(MAX_ID), str(MAX_ID + 1), str(2**63), "9" * 5000, "1e3", " 7 ", "٣", "+1", "0x10"]),
)
_cursors = st.builds(
    lambda tag, when, row_id: cursor(f"{tag}|{when}|{row_id}"),
    st.sampled_from(["m", "m", "m", "l", "x"]),
    st.one_of(_aware_dates, _dates),
    st.one_of(
        st.sampled_from([0, 1, MAX_ID, MAX_ID + 1, 2**63 - 1, 2**63]),
        st.integers(0, 2**64),
        st.integers(-(2**70), 2**70),
    ),
)
_text = st.text(st.characters(codec="utf-8"), max_size=30)
_words = st.sampled_from(["incoming", "OUTGOING", "bcc", "forward", "1", "yes", "off", "maybe", ""])
_anything = st.one_of(_dates, _numbers, _cursors, _text, _words)
#: Each parameter's value: half the time of its own kind (a date for ``from``), half the time anything.
_typical = {
    **dict.fromkeys(LIST_PARAMS, _numbers),
    "from": _dates,
    "to": _dates,
    "after": _cursors,
    "q": _text,
    "direction": _words,
    "kind": _words,
    "unmatched": _words,
}
_queries = st.lists(st.sampled_from(LIST_PARAMS), unique=True, max_size=4).flatmap(
    lambda names: st.fixed_dictionaries({name: st.one_of(_typical[name], _anything) for name in names})
)


_cursor_queries = _cursors.map(lambda after: {"after": after})
_date_queries = st.dictionaries(st.sampled_from(["from", "to"]), st.one_of(_aware_dates, _dates), min_size=1)


def check_list_query(client: TestClient, params: dict[str, str]) -> None:
    """``/messages``, ``/api/messages`` and the CSV export answer ``params`` with 200, or a 400 naming the problem."""
    page = client.get("/messages", params=params)
    assert page.status_code in (200, 400), (params, page.status_code)
    if page.status_code == 400:
        assert_clear_400("/messages", page.text, None, params)

    api = client.get("/api/messages", params=params)
    assert api.status_code in (200, 400), (params, api.status_code, api.text)
    if api.status_code == 400:
        assert_clear_400("/api/messages", api.text, api.json(), params)
    else:
        assert isinstance(api.json()["items"], list)

    export = client.get("/messages.csv", params=params)
    assert export.status_code in (200, 400), (params, export.status_code)
    if export.status_code == 400:
        assert_clear_400("/messages.csv", export.text, None, params)
    else:
        rows = list(csv.reader(io.StringIO(export.text)))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert all(len(row) == len(CSV_COLUMNS) for row in rows)


@pytest.mark.parametrize(
    "queries", [_queries, _cursor_queries, _date_queries], ids=["any-parameters", "cursors", "dates"]
)
def test_fuzzed_list_queries_are_200_or_a_clear_400(
    world: World, client_for: ClientFor, queries: st.SearchStrategy[dict[str, str]]
) -> None:
    ada = client_for(ADA.email)

    @FUZZ
    @given(params=queries)
    def check(params: dict[str, str]) -> None:
        check_list_query(ada, params)

    check()


# --- caching -------------------------------------------------------------------------------------------------------


def test_everything_behind_the_login_is_no_store(store: Store, world: World, client_for: ClientFor) -> None:
    # Given an email with an HTML body, an attachment and its raw source
    message_id = file_html(store, world, "<edges@crm>", "<p>hello</p>")
    ada = client_for(ADA.email)
    attachment = re.search(
        rf"/messages/{world.m['to_piotr']}/attachments/\d+", ada.get(f"/messages/{world.m['to_piotr']}").text
    )
    assert attachment is not None

    # Then every private answer, errors included, tells caches not to keep it
    for path in (
        "/",
        "/messages",
        "/messages?from=9999-12-31",
        f"/messages/{message_id}",
        f"/messages/{message_id}/html",
        f"/messages/{message_id}/raw.eml",
        attachment.group(0),
        "/messages.csv",
        "/messages/999999",
        f"/clients/{world.acme}",
        "/leads",
        "/inbound",
        "/api/me",
        "/api/messages",
        f"/api/messages/{message_id}",
        "/api/messages/999999",
        "/api/dashboard",
        "/api/nothing-here",
    ):
        response = ada.get(path)
        assert response.status_code in (200, 400, 404), path
        assert response.headers.get("cache-control") == "no-store", path
    assert client_for(ADA.email).get(f"/messages/{message_id}/raw.eml").status_code == 200


def test_an_anonymous_redirect_to_the_login_is_no_store(world: World, client_for: ClientFor) -> None:
    response = client_for(None).get("/messages")
    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"


def test_static_files_and_the_login_page_may_be_cached(world: World, client_for: ClientFor) -> None:
    anonymous = client_for(None)
    for path in ("/static/style.css", "/login"):
        response = anonymous.get(path)
        assert response.status_code == 200, path
        assert "no-store" not in response.headers.get("cache-control", ""), path


# --- HSTS ----------------------------------------------------------------------------------------------------------


def test_no_hsts_header_by_default(world: World, client_for: ClientFor) -> None:
    assert "strict-transport-security" not in client_for(None).get("/login").headers
    assert "strict-transport-security" not in client_for(ADA.email).get("/messages").headers


def test_hsts_max_age_adds_the_header_to_every_response(store: Store, world: World) -> None:
    app = create_app(store, secret_key="test-secret-key-" + "x" * 32, hsts_max_age=31536000)
    with TestClient(app, follow_redirects=False) as client:
        for path in ("/login", "/static/style.css", "/messages", "/api/messages"):
            assert client.get(path).headers["strict-transport-security"] == "max-age=31536000", path
        log_in(client, ADA.email)
        assert client.get("/messages").headers["strict-transport-security"] == "max-age=31536000"


def test_a_content_id_postgresql_cannot_bind_is_not_found(world: World, client_for: ClientFor) -> None:
    # PostgreSQL text holds no NUL: a Content-ID with one matches nothing, and must not reach the database.
    ada = client_for(ADA.email)
    for cid in ("%00", "a%00b@x", "%3Ca%00%3E"):
        assert ada.get(f"/messages/{world.m['to_piotr']}/cid/{cid}").status_code == 404, cid
