"""The configuration of the ways in and out besides SMTP: IMAP mailbox sources (``[[sources.imap]]``) and webhooks
(``[[webhooks]]``). Every key is documented in ``config.example.toml``."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from mailassist.config_fields import Address, Section, is_loopback

#: What a ``[[webhooks]]`` block may subscribe to.
WEBHOOK_EVENTS = ("message.filed", "message.ignored", "lead.created", "message.failed")


#: A ``[[sources.imap]]`` name: it is also the receipts' source, ``imap:NAME``.
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_webhook_secret(secret: str) -> str:
    """``secret`` if it is a Standard Webhooks secret (``whsec_`` and base64 of 24 to 64 bytes), else ``ValueError``."""
    body = secret.strip().removeprefix("whsec_")
    if not secret.strip().startswith("whsec_"):
        raise ValueError("secret must start with 'whsec_' (Standard Webhooks), e.g. from 'mailassist webhooks secret'")
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("secret: the part after 'whsec_' is not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"secret: the key must be 24 to 64 bytes, got {len(key)}")
    return secret.strip()


class WebhookConfig(Section):
    """A ``[[webhooks]]`` block: where to POST which events, signed with which secret."""

    #: Shown by ``mailassist webhooks``; unique.
    name: str = Field(min_length=1, max_length=100)
    url: str
    events: list[Literal["message.filed", "message.ignored", "lead.created", "message.failed"]] = Field(min_length=1)
    #: ``whsec_`` + base64 key; or ``secret_file``, a file holding it (relative to the config file).
    secret: str = ""
    secret_file: str = ""
    #: Seconds one attempt may take (connect, send, answer).
    timeout: float = Field(default=10, gt=0, le=120)
    max_attempts: int = Field(default=8, ge=1, le=100)
    #: Retry backoff in seconds: starts here and doubles up to ``max_backoff``.
    min_backoff: float = Field(default=10, gt=0)
    max_backoff: float = Field(default=3600, gt=0)
    #: Deliveries to this endpoint at once.
    concurrency: int = Field(default=2, ge=1, le=32)

    @model_validator(mode="after")
    def _check(self) -> WebhookConfig:
        where = f"webhook {self.name!r}"
        url = urlsplit(self.url)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(f"{where}: url must be an https:// URL, got {self.url!r}")
        if url.scheme == "http" and not is_loopback(url.hostname):
            raise ValueError(f"{where}: url must use https (plain http only to a loopback host), got {self.url!r}")
        if bool(self.secret) == bool(self.secret_file):
            raise ValueError(f"{where}: give exactly one of secret and secret_file")
        if self.secret:
            try:
                check_webhook_secret(self.secret)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        if self.min_backoff > self.max_backoff:
            raise ValueError(f"{where}: min_backoff must not exceed max_backoff")
        return self


class ImapSourceConfig(Section):
    """A ``[[sources.imap]]`` block: one mailbox polled over IMAP, personal (``user``) or a team's (``team``)."""

    #: Unique; the receipts' source is ``imap:NAME`` (``mailassist sources`` shows it).
    name: str = Field(min_length=1, max_length=64)
    host: str = Field(min_length=1)
    #: 0: the usual port of ``tls`` (993 for ``implicit``, 143 otherwise).
    port: int = Field(default=0, ge=0, lt=65536)
    #: ``implicit`` (TLS from the first byte, port 993), ``starttls`` (plain, then STARTTLS before login, port 143),
    #: or ``none`` (no TLS at all: only to a loopback host, where the password never leaves the machine).
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    #: PEM file of the CA certificates to trust for this server instead of the system's (a private CA). Relative to
    #: the config file.
    tls_ca_file: str = ""
    #: The IMAP user name.
    login: str = Field(min_length=1)
    #: The password (an app password for Gmail); or ``password_file``, a file holding it (relative to the config
    #: file), read at each connection.
    password: SecretStr = Field(default=SecretStr(""), repr=False)
    password_file: str = ""
    #: The folders to take mail from, each on its own; Sent too for mail sent from another client.
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    #: Back-fill: messages the server received on or after this date (``2024-01-01``); none given: every message.
    fetch_since: date | None = None
    #: Seconds between polls (with IDLE, the longest wait for mail to the first folder is the time IDLE takes).
    poll_interval: float = Field(default=60, gt=0, le=24 * 3600)
    #: Wait for new mail to the first folder with IDLE (RFC 2177) where the server offers it.
    idle: bool = True
    #: After a message is taken: flag it \Seen (off: the mailbox is left exactly as it was).
    mark_seen: bool = False
    #: After a message is taken: move it to this folder (empty: never). Nothing is ever deleted.
    move_to: str = ""
    #: Seconds a connection, or one answer of the server, may take.
    timeout: float = Field(default=60, gt=0, le=600)
    #: After a failed poll, wait this long, doubling with each failure in a row, at most ``max_backoff``.
    min_backoff: float = Field(default=5, gt=0)
    max_backoff: float = Field(default=900, gt=0)
    #: A personal mailbox: the directory user whose mail this is (their submissions, proof ``imap:personal``).
    user: Address | None = None
    #: A group mailbox (support@…): the team it belongs to, and ``submitter``, the user of that team its mail is
    #: filed for (proof ``imap:group``). Everyone who sees that team's mail sees it.
    team: str | None = Field(default=None, min_length=1)
    submitter: Address | None = None

    @field_validator("fetch_since", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, str):  # "2024-01-01" as well as the TOML date 2024-01-01
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"expected a date such as 2024-01-01, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> ImapSourceConfig:
        where = f"IMAP source {self.name!r}"
        if not _SOURCE_NAME.match(self.name):
            raise ValueError(f"{where}: name must be letters, digits, '.', '_' or '-' (at most 64)")
        if self.tls == "none" and not is_loopback(self.host):
            raise ValueError(
                f'{where}: tls = "none" sends the password in clear, so it is allowed only to a loopback host '
                f'(localhost, 127.0.0.1, ::1), not {self.host!r}; use tls = "implicit" (port 993) or "starttls"'
            )
        if self.tls_ca_file and self.tls == "none":
            raise ValueError(f'{where}: tls_ca_file needs tls = "implicit" or "starttls"')
        if bool(self.password.get_secret_value()) == bool(self.password_file):
            raise ValueError(f"{where}: give exactly one of password and password_file")
        if len(set(self.folders)) != len(self.folders) or not all(f.strip() for f in self.folders):
            raise ValueError(f"{where}: folders must be distinct, non-empty names")
        if self.move_to and self.move_to in self.folders:
            raise ValueError(f"{where}: move_to must be a folder that is not polled")
        if self.min_backoff > self.max_backoff:
            raise ValueError(f"{where}: min_backoff must not exceed max_backoff")
        if (self.user is None) == (self.team is None):
            raise ValueError(
                f'{where}: say whose mailbox it is: user = "ADDRESS" (a personal mailbox) or team = "TEAM" with '
                'submitter = "ADDRESS" (a group mailbox)'
            )
        if self.team is not None and self.submitter is None:
            raise ValueError(
                f"{where}: a group mailbox (team) needs submitter, a user of that team its mail is filed for"
            )
        if self.user is not None and self.submitter is not None:
            raise ValueError(f"{where}: submitter is for a group mailbox (team); a personal one's is its user")
        return self

    @property
    def source(self) -> str:
        """The receipts' source."""
        return f"imap:{self.name}"

    @property
    def server_port(self) -> int:
        """``port``, or the usual one for ``tls``."""
        return self.port or (993 if self.tls == "implicit" else 143)


class SourcesConfig(Section):
    imap: list[ImapSourceConfig] = Field(default_factory=list)
