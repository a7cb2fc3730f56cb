"""Wiring from config: the web viewer gets its session key and cookie policy from ``[web]``, the gateway its limits
and STARTTLS certificate from ``[smtp]``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from itsdangerous import BadSignature, TimestampSigner
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from mailassist.build import gateway_settings, open_store
from mailassist.config import Config, ConfigError, load_config
from mailassist.runtime import build_web_app, web_server_config
from store import Store
from web.app import default_secret_path
from web.auth.middleware import SESSION_COOKIE, SESSION_MAX_AGE

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


@pytest.mark.parametrize(
    ("setting", "expected"), [("", None), ("hsts_max_age = 0", None), ("hsts_max_age = 600", "max-age=600")]
)
def test_hsts_max_age_setting_adds_the_header(tmp_path: Path, store: Store, setting: str, expected: str | None) -> None:
    with TestClient(build_web_app(_config(tmp_path, setting), store), follow_redirects=False) as client:
        assert client.get("/login").headers.get("strict-transport-security") == expected


def test_a_negative_hsts_max_age_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"web\.hsts_max_age"):
        _config(tmp_path, "hsts_max_age = -1")


def _client_seen(config: Config, peer: str, forwarded_for: str) -> tuple[str, str]:
    """The client address and scheme the viewer sees behind the uvicorn config built from ``config``, for a
    request from ``peer`` saying ``X-Forwarded-For: forwarded_for`` and ``X-Forwarded-Proto: https``."""
    seen: list[tuple[str, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["client"][0], scope["scheme"]))

    server_config = web_server_config(config, app)
    server_config.load()

    async def request() -> None:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            pass

        headers = [(b"x-forwarded-for", forwarded_for.encode()), (b"x-forwarded-proto", b"https")]
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "scheme": "http",
            "client": (peer, 40000),
            "headers": headers,
        }
        await server_config.loaded_app(scope, receive, send)

    asyncio.run(request())
    return seen[0]


def test_x_forwarded_for_is_ignored_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even with uvicorn's own environment variable saying otherwise
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    config = _config(tmp_path, "")
    assert config.web.trusted_proxies == []

    assert _client_seen(config, "127.0.0.1", "203.0.113.9") == ("127.0.0.1", "http")


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    config = _config(tmp_path, 'trusted_proxies = ["10.0.0.7", "192.168.1.0/24"]')
    assert config.web.trusted_proxies == ["10.0.0.7/32", "192.168.1.0/24"]

    assert _client_seen(config, "10.0.0.7", "203.0.113.9") == ("203.0.113.9", "https")
    assert _client_seen(config, "192.168.1.20", "203.0.113.9") == ("203.0.113.9", "https")
    assert _client_seen(config, "127.0.0.1", "203.0.113.9") == ("127.0.0.1", "http")
    assert _client_seen(config, "10.0.0.8", "203.0.113.9") == ("10.0.0.8", "http")


def test_a_bad_trusted_proxy_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"web\.trusted_proxies"):
        _config(tmp_path, 'trusted_proxies = ["proxy.example.com"]')


# --- [smtp] into the gateway's settings: limits and the STARTTLS certificate ---------------------------------------


def _smtp_config(tmp_path: Path, smtp: str) -> Config:
    path = tmp_path / "c.toml"
    path.write_text(f'[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n\n[smtp]\n{smtp}\n')
    return load_config(path)


@pytest.fixture
def pem_files(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate chain and its key, written beside the config file."""
    cert = trustme.CA().issue_cert("mx.crm.example.com")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(tmp_path / "cert.pem"), append=True)
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_gateway_settings_carry_the_limits_and_exempt_loopback_by_default(tmp_path: Path) -> None:
    defaults = gateway_settings(_smtp_config(tmp_path, ""))
    assert defaults.tls_context is None and not defaults.require_tls
    assert defaults.per_ip_exempt == ("127.0.0.0/8", "::1/128")
    settings = gateway_settings(
        _smtp_config(
            tmp_path,
            "data_timeout = 7\nmin_data_rate = 50\nmin_data_rate_grace = 2\nmax_connections_per_ip = 3\n"
            "max_messages_per_minute_per_ip = 9\nmax_data_per_ip = 1\nper_ip_exempt = []",
        )
    )
    assert (settings.data_timeout, settings.min_data_rate, settings.min_data_rate_grace) == (7, 50, 2)
    assert (settings.max_connections_per_ip, settings.max_messages_per_minute_per_ip, settings.max_data_per_ip) == (
        3,
        9,
        1,
    )
    assert settings.per_ip_exempt == ()


def test_the_starttls_certificate_is_loaded_relative_to_the_config(
    tmp_path: Path, pem_files: tuple[Path, Path]
) -> None:
    settings = gateway_settings(
        _smtp_config(tmp_path, 'tls_cert = "cert.pem"\ntls_key = "key.pem"\nrequire_tls = true')
    )
    assert isinstance(settings.tls_context, ssl.SSLContext)
    assert settings.require_tls


@pytest.mark.parametrize(
    ("smtp", "expected"),
    [
        ('tls_cert = "missing.pem"\ntls_key = "key.pem"', "smtp.tls_cert: no such file: "),
        ('tls_cert = "cert.pem"\ntls_key = "missing.pem"', "smtp.tls_key: no such file: "),
        # The key in neither file
        ('tls_cert = "cert.pem"', "smtp.tls_cert: cannot load a PEM certificate chain and its private key from "),
        ('tls_cert = "cert.pem"\ntls_key = "other.pem"', "smtp.tls_cert: cannot load a PEM certificate chain"),
        ('tls_cert = "junk.pem"\ntls_key = "key.pem"', "smtp.tls_cert: cannot load a PEM certificate chain"),
    ],
)
def test_a_bad_certificate_or_key_is_a_config_error(
    tmp_path: Path, pem_files: tuple[Path, Path], smtp: str, expected: str
) -> None:
    trustme.CA().issue_cert("other.example.com").private_key_pem.write_to_path(str(tmp_path / "other.pem"))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError) as err:
        gateway_settings(_smtp_config(tmp_path, smtp))
    assert str(err.value).startswith(expected)


def test_no_usable_system_dns_is_a_config_error_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.resolver

    from mailassist.build import make_authenticator
    from mailassist.config import ConfigError, parse_config

    def no_resolv_conf(self: dns.resolver.Resolver, *args: object, **kwargs: object) -> None:
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", no_resolv_conf)

    with pytest.raises(ConfigError, match=r"trust\.nameservers: empty"):
        make_authenticator(parse_config({}))
    # Named servers need no system configuration
    assert make_authenticator(parse_config({"trust": {"nameservers": ["127.0.0.1:5353"]}})) is not None
