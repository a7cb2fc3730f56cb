"""Wiring from config: the web viewer gets its session key and cookie policy from ``[web]``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from itsdangerous import BadSignature, TimestampSigner
from starlette.testclient import TestClient

from mailassist.config import Config, load_config
from mailassist.runtime import build_web_app, open_store
from store import Store
from web.app import default_secret_path
from web.auth import SESSION_COOKIE, SESSION_MAX_AGE

#: A key as ``openssl rand -hex 32`` would make one.
KEY = "0123456789abcdef" * 4


def _config(tmp_path: Path, web: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(f'[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n\n[web]\n{web}\n')
    return load_config(path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty SQLite store beside the config files the tests write."""
    opened = open_store(_config(tmp_path, ""))
    try:
        yield opened
    finally:
        opened.close()


def _session_cookie(config: Config, store: Store) -> tuple[str, str]:
    """The session cookie the login page sets: ``(value, Set-Cookie header)``."""
    with TestClient(build_web_app(config, store), follow_redirects=False) as client:
        response = client.get("/login")
    assert response.status_code == 200
    return response.cookies[SESSION_COOKIE], response.headers["set-cookie"]


def test_a_configured_secret_key_signs_the_session_cookie(tmp_path: Path, store: Store) -> None:
    # Given a config naming its own secret key
    config = _config(tmp_path, f'secret_key = "{KEY}"')

    # When the viewer built from it sets a session cookie
    cookie, _ = _session_cookie(config, store)

    # Then the cookie is signed with that key, and no key file was generated beside the blobs
    TimestampSigner(KEY).unsign(cookie, max_age=SESSION_MAX_AGE)
    assert not default_secret_path(store).exists()


def test_without_a_configured_key_the_generated_file_signs(tmp_path: Path, store: Store) -> None:
    cookie, _ = _session_cookie(_config(tmp_path, ""), store)

    generated = default_secret_path(store).read_text().strip()
    TimestampSigner(generated).unsign(cookie, max_age=SESSION_MAX_AGE)
    with pytest.raises(BadSignature):
        TimestampSigner(KEY).unsign(cookie, max_age=SESSION_MAX_AGE)


@pytest.mark.parametrize(("setting", "secure"), [("always", True), ("never", False), ("auto", False)])
def test_secure_cookies_setting_marks_the_cookie(tmp_path: Path, store: Store, setting: str, secure: bool) -> None:
    # The test client speaks plain http, so only "always" may mark the cookie Secure.
    _, header = _session_cookie(_config(tmp_path, f'secure_cookies = "{setting}"'), store)

    assert ("secure" in header.lower()) is secure
