"""Webhooks' ``[[webhooks]]`` config blocks, and the signature the Standard Webhooks vector checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailassist.config import ConfigError, load_config, parse_config
from mailassist.webhooks import signed_headers, webhook_endpoints
from tests.mailassist.webhooks.support import SECRET


def block(**kw: Any) -> dict[str, Any]:
    return {"name": "crm", "url": "https://crm.example/hooks", "events": ["message.filed"], "secret": SECRET} | kw


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (block(url="http://crm.example/hooks"), "webhooks[0]: webhook 'crm': url must use https"),
        (block(url="ftp://crm.example/x"), "webhooks[0]: webhook 'crm': url must be an https:// URL"),
        (block(events=["message.sent"]), "webhooks[0].events[0]: Input should be 'message.filed'"),
        (block(events=[]), "webhooks[0].events: List should have at least 1 item"),
        (block(secret=""), "webhooks[0]: webhook 'crm': give exactly one of secret and secret_file"),
        (block(secret_file="s.txt"), "webhooks[0]: webhook 'crm': give exactly one of secret and secret_file"),
        (block(secret="hunter2"), "webhooks[0]: webhook 'crm': secret must start with 'whsec_'"),
        (block(secret="whsec_!!!"), "webhooks[0]: webhook 'crm': secret: the part after 'whsec_' is not base64"),
        (block(secret="whsec_YWJj"), "webhooks[0]: webhook 'crm': secret: the key must be 24 to 64 bytes, got 3"),
        (block(colour="red"), "webhooks[0].colour: unknown key"),
    ],
)
def test_a_bad_webhook_block_is_a_config_error_naming_it(given: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"webhooks": [given]}, source="c.toml")
    assert f"c.toml: {error}" in str(caught.value)


def test_webhook_blocks_need_distinct_names() -> None:
    with pytest.raises(ConfigError, match=r"webhooks\[1\]: webhook 'crm': another \[\[webhooks\]\] block"):
        parse_config({"webhooks": [block(), block()]}, source="c.toml")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/x", "http://localhost/x", "http://[::1]:8/x", "https://a.b/"])
def test_https_or_plain_http_to_loopback(url: str) -> None:
    assert parse_config({"webhooks": [block(url=url)]}).webhooks[0].url == url


def test_a_secret_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    config = tmp_path / "c.toml"
    config.write_text(
        '[[webhooks]]\nname = "crm"\nurl = "https://crm.example/h"\nevents = ["lead.created"]\nsecret_file = "secret"\n'
    )
    (ep,) = webhook_endpoints(load_config(config))
    assert (ep.secret, ep.events) == (SECRET, frozenset({"lead.created"}))
    (tmp_path / "secret").write_text("not a secret")
    with pytest.raises(ConfigError, match=r"webhooks\[0\]: webhook 'crm': secret_file: .*must start with 'whsec_'"):
        webhook_endpoints(load_config(config))
    (tmp_path / "secret").unlink()
    with pytest.raises(ConfigError, match=r"secret_file: cannot read .*secret: No such file"):
        webhook_endpoints(load_config(config))


def test_every_configured_value_reaches_the_endpoint() -> None:
    values = {"timeout": 3.5, "max_attempts": 4, "min_backoff": 2.0, "max_backoff": 60.0, "concurrency": 5}
    (ep,) = webhook_endpoints(parse_config({"webhooks": [block(**values)]}))
    assert (ep.name, ep.url, ep.secret) == ("crm", block()["url"], SECRET)
    assert {name: getattr(ep, name) for name in values} == values
    assert ep.backoff(3) == 8.0


def test_signature_matches_the_published_standard_webhooks_vector() -> None:
    # The example of the Standard Webhooks specification (and its reference libraries' tests)
    at = datetime.fromtimestamp(1614265330, UTC)
    headers = signed_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', at
    )
    assert headers["webhook-id"] == "msg_p5jXN8AQM9LWM0D4loKWxJek"
    assert headers["webhook-timestamp"] == "1614265330"
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
