"""The viewer's health check and security headers."""

from __future__ import annotations

from starlette.testclient import TestClient

from store import Store
from web.app import create_app


def test_healthz_reports_db_and_broker(sqlite_store: Store) -> None:
    client = TestClient(create_app(sqlite_store, broker_check=lambda: None))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "db": "ok", "broker": "ok"}
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_healthz_fails_when_the_broker_is_down(sqlite_store: Store) -> None:
    def down() -> None:
        raise ConnectionError("refused")

    response = TestClient(create_app(sqlite_store, broker_check=down)).get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "error: ConnectionError"
