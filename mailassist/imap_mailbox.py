"""One IMAP mailbox source as the pollers see it: its settings resolved (``Mailbox``, whose password never shows in a
``repr`` or an error), the connection to it (``connect``: TLS, login, capabilities), and the errors a poll records
on its source (``SourceError``; ``LeaseLostError`` when another poller took the mailbox)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import ssl
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailassist.config import Config, ConfigError, ImapSourceConfig


class SourceError(Exception):
    """A source's poll failed in a way worth one clear line (``mailassist sources``): never holding a password."""


class LeaseLostError(SourceError):
    """Another poller took the source: this one stops polling it until it can take it back."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A ``[[sources.imap]]`` block as the poller uses it. Its password is read when it connects (a
    ``password_file`` at each connection, so a fixed file needs no restart), and is in no ``repr``."""

    name: str
    host: str
    port: int
    tls: str
    login: str
    folders: tuple[str, ...] = ("INBOX",)
    fetch_since: date | None = None
    poll_interval: float = 60.0
    idle: bool = True
    mark_seen: bool = False
    move_to: str = ""
    timeout: float = 60.0
    min_backoff: float = 5.0
    max_backoff: float = 900.0
    #: A personal mailbox's user; or a group mailbox's team and the member its mail is filed for.
    user: str | None = None
    team: str | None = None
    submitter: str | None = None
    password: str = field(default="", repr=False)
    password_file: Path | None = None
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def source(self) -> str:
        """The receipts' source: ``imap:NAME``."""
        return f"imap:{self.name}"

    @property
    def where(self) -> str:
        """``login@host:port``, for people (never the password)."""
        return f"{self.login}@{self.host}:{self.port}"

    @property
    def readonly(self) -> bool:
        """Whether folders are opened with EXAMINE: nothing about the mailbox changes."""
        return not (self.mark_seen or self.move_to)

    def read_password(self) -> str:
        """The password, from the config or its file (``SourceError`` when the file cannot be read or is empty)."""
        if self.password_file is None:
            return self.password
        try:
            password = self.password_file.read_text(encoding="utf-8").strip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise SourceError(f"cannot read password_file {self.password_file}: {reason}") from None
        if not password:
            raise SourceError(f"password_file {self.password_file} is empty")
        return password

    def backoff(self, failures: int) -> float:
        """Seconds before the next try after ``failures`` failed polls in a row: doubling, capped."""
        return float(min(self.max_backoff, self.min_backoff * 2 ** max(0, failures - 1)))


#: ``Mailbox`` fields that are the ``[[sources.imap]]`` block's fields of the same name, as they are.
_AS_CONFIGURED = ("name", "host", "tls", "login", "fetch_since", "poll_interval", "idle", "mark_seen", "move_to",
                  "timeout", "min_backoff", "max_backoff", "user", "team", "submitter")  # fmt: skip


def mailbox_of(config: Config, source: ImapSourceConfig) -> Mailbox:
    """One ``[[sources.imap]]`` block as a ``Mailbox``; a ``tls_ca_file`` that cannot be loaded is a ``ConfigError``."""
    context = None
    if source.tls != "none":
        cafile = config.resolve(source.tls_ca_file) if source.tls_ca_file else None
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"sources.imap: IMAP source {source.name!r}: tls_ca_file {cafile}: {reason}") from None
    return Mailbox(
        **{name: getattr(source, name) for name in _AS_CONFIGURED},
        port=source.server_port,
        folders=tuple(source.folders),
        password=source.password.get_secret_value(),
        password_file=config.resolve(source.password_file) if source.password_file else None,
        ssl_context=context,
    )


def mailboxes(config: Config) -> list[Mailbox]:
    """Every configured ``[[sources.imap]]`` mailbox."""
    return [mailbox_of(config, s) for s in config.sources.imap]


def new_owner() -> str:
    """This poller's name in a lease: host, process and a random part (two pollers in one process differ too)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def scrub(text: str, password: str) -> str:
    """``text`` with the password blanked out, should a server or library ever echo it."""
    return text.replace(password, "***") if password else text


def describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return text.removeprefix("b'").removesuffix("'") if text.startswith("b'") else text


class Client(Protocol):
    """What a poller asks of an IMAP connection (``IMAPClient``'s methods; a test may stand in)."""

    def capabilities(self) -> tuple[bytes, ...]: ...
    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, Any]: ...
    def search(self, criteria: Any = "ALL", charset: str | None = None) -> list[int]: ...
    def fetch(self, messages: Any, data: Any, modifiers: Any = None) -> dict[int, dict[bytes, Any]]: ...
    def add_flags(self, messages: Any, flags: Any, silent: bool = False) -> Any: ...
    def move(self, messages: Any, folder: str) -> Any: ...
    def noop(self) -> Any: ...
    def idle(self) -> None: ...
    def idle_check(self, timeout: float | None = None) -> list[Any]: ...
    def idle_done(self) -> Any: ...
    def logout(self) -> Any: ...
    def shutdown(self) -> None: ...


def connect(mailbox: Mailbox) -> Client:
    """A logged-in ``IMAPClient`` for ``mailbox``: implicit TLS, STARTTLS before login, or (loopback only) none.
    ``SourceError`` says what went wrong, without the password."""
    password = mailbox.read_password()
    where = mailbox.where
    try:
        client = IMAPClient(
            mailbox.host,
            port=mailbox.port,
            ssl=mailbox.tls == "implicit",
            ssl_context=mailbox.ssl_context,
            timeout=mailbox.timeout,
        )
    except (OSError, IMAPClientError) as exc:
        raise SourceError(f"cannot connect to {mailbox.host}:{mailbox.port}: {describe(exc)}") from None
    try:
        if mailbox.tls == "starttls":
            client.starttls(mailbox.ssl_context)
        client.login(mailbox.login, password)
    except LoginError as exc:
        close_quietly(client)
        said = scrub(describe(exc), password)
        raise SourceError(f"login refused for {where} (check login and password): {said}") from None
    except (OSError, IMAPClientError) as exc:
        close_quietly(client)
        step = "STARTTLS" if mailbox.tls == "starttls" else "login"
        raise SourceError(f"{step} failed for {where}: {scrub(describe(exc), password)}") from None
    opened: Client = client
    return opened


def close_quietly(client: Client | IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):  # already gone
            client.shutdown()
