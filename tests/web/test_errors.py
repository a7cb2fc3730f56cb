"""The web's one error root: each refusal a handler raises maps to one status, answered as JSON under ``/api/`` and as
a page elsewhere; anything else stays the server's 500."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from store import BadCursorError, BlobNotFoundError, Store, StoreUnavailableError
from store.shapes import UserRow
from tests.web.conftest import log_in, set_passwords
from web.app import create_app
from web.auth.passwords import hash_api_token, new_api_token
from web.errors import (
    RETRY_AFTER_SECONDS,
    ErrorAnswers,
    FilterError,
    NotFoundError,
    Refusal,
    RefusedError,
    WebError,
    refusal,
)

ANNA = "anna@firma.pl"


@pytest.mark.parametrize(
    ("exc", "status", "message", "param"),
    [
        (FilterError("limit", "must be a whole number"), 400, "limit: must be a whole number", "limit"),
        (BadCursorError("not a cursor of this list"), 400, "after: not a cursor of this list", "after"),
        (NotFoundError(), 404, "not found", None),
        (BlobNotFoundError("gone"), 404, "not found", None),
        (RefusedError(403, "writes take a token"), 403, "writes take a token", None),
        (StoreUnavailableError("OperationalError: down"), 503, "database unavailable", None),
    ],
)
def test_each_refusal_maps_to_one_status(exc: Exception, status: int, message: str, param: str | None) -> None:
    answer = refusal(exc)
    assert answer is not None
    assert (answer.status, answer.message, answer.param) == (status, message, param)


def test_an_outage_asks_to_retry_later_and_a_bug_is_no_refusal() -> None:
    down = refusal(StoreUnavailableError("down"))
    assert down is not None and down.headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    assert refusal(RuntimeError("a bug")) is None
    assert refusal(ValueError("a bug too")) is None
    assert isinstance(FilterError("q", "x"), WebError) and isinstance(FilterError("q", "x"), ValueError)


def _html(request: Request, answer: Refusal) -> Response | None:
    # Like ``PageKit.refuse``: a page for each refusal it knows, the rest left to the server's 500.
    known = answer.status in (400, 404, 503)
    return PlainTextResponse(f"page {answer.message}", status_code=answer.status) if known else None


def _client() -> TestClient:
    errors: dict[str, Exception] = {
        "missing": NotFoundError(),
        "bad": FilterError("limit", "must be a whole number"),
        "down": StoreUnavailableError("down"),
        "bug": RuntimeError("a bug"),
    }

    async def raising(request: Request) -> Response:
        raise errors[request.path_params["what"]]

    handler = ErrorAnswers(_html)
    app = Starlette(
        routes=[Route("/api/{what}", raising), Route("/{what}", raising)],
        exception_handlers={WebError: handler, StoreUnavailableError: handler},
    )
    return TestClient(app, raise_server_exceptions=False)


def test_the_api_answers_refusals_as_json() -> None:
    client = _client()
    missing = client.get("/api/missing")
    assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
    assert missing.headers["cache-control"] == "no-store"
    bad = client.get("/api/bad")
    assert (bad.status_code, bad.json()) == (400, {"error": "limit: must be a whole number", "param": "limit"})
    down = client.get("/api/down")
    assert (down.status_code, down.json()) == (503, {"error": "database unavailable"})
    assert down.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert client.get("/api/bug").status_code == 500


def test_pages_answer_refusals_with_their_own_pages() -> None:
    client = _client()
    assert (client.get("/missing").status_code, client.get("/missing").text) == (404, "page not found")
    assert client.get("/bad").text == "page limit: must be a whole number"
    assert (client.get("/down").status_code, client.get("/down").text) == (503, "page database unavailable")
    # A bug is no refusal: the server's error page
    assert client.get("/bug").status_code == 500


def test_the_api_over_a_database_that_goes_down_is_a_503_to_retry(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a token of a user who may read
    sqlite_store.directory.apply_users([UserRow(2, ANNA, "Anna Nowak", None, "all")])
    (anna,) = sqlite_store.directory.find_users_by_addresses([ANNA]).values()
    token = new_api_token()
    sqlite_store.auth.add_api_token(anna.id, "read", hash_api_token(token))
    with TestClient(create_app(sqlite_store, secret_key="k" * 32)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/messages", headers=headers).status_code == 200

        # When the database fails under the message list
        def down(*args: object, **kwargs: object) -> object:
            raise StoreUnavailableError("OperationalError: database is locked")

        monkeypatch.setattr(sqlite_store.queries, "list_messages", down)
        response = client.get("/api/messages", headers=headers)

    # Then the answer says so, and when to try again
    assert response.status_code == 503
    assert response.json() == {"error": "database unavailable"}
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)


def test_a_page_over_a_database_that_goes_down_is_a_503_page_to_retry(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a logged-in user reading the message list
    sqlite_store.directory.apply_users([UserRow(2, ANNA, "Anna Nowak", None, "all")])
    set_passwords(sqlite_store, [ANNA])
    with TestClient(create_app(sqlite_store, secret_key="k" * 32), follow_redirects=False) as client:
        log_in(client, ANNA)
        assert client.get("/messages").status_code == 200

        # When the database fails under it
        def down(*args: object, **kwargs: object) -> object:
            raise StoreUnavailableError("OperationalError: database is locked")

        monkeypatch.setattr(sqlite_store.queries, "list_messages", down)
        response = client.get("/messages")

    # Then the page says so and when to try again, as the API does, with no traceback
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert "Unavailable for a moment" in response.text and "Traceback" not in response.text
