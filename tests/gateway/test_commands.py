"""gateway.commands: the same answers as aiosmtpd's own per-command and per-connection work, only cheaper."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given
from hypothesis import strategies as st

from gateway.commands import parse_path, protocol_names
from gateway.handler import GatewayHandler
from gateway.session import GatewaySession


@pytest.fixture
def stock() -> Iterator[SMTP]:
    """aiosmtpd's own protocol, for its ``_getaddr``: the reference."""
    loop = asyncio.new_event_loop()
    try:
        yield SMTP(object(), loop=loop, hostname="ref.test", enable_SMTPUTF8=True)
    finally:
        loop.close()


PATHS = [
    "",
    "<anna.nowak@example.com>",
    "<anna.nowak@example.com> SIZE=4096 BODY=8BITMIME",
    "<anna.nowak@example.com>SIZE=1",
    "  <anna@example.com>",
    "<anna@example.com> \t SMTPUTF8",
    "<anna@example.com> (a comment) SIZE=1",
    "<anna@example.com>(a comment)",
    "<ANNA+crm@Example.COM>",
    "<o'brien@mail.example.ie>",
    "<>",
    "<> SIZE=10",
    "anna@example.com",
    "anna@example.com SIZE=10",
    '<"anna nowak"@example.com>',
    "<@relay.example:anna@example.com>",
    "<anna@[192.0.2.1]>",
    "<zażółć@przykład.pl>",
    "<anna..nowak@example.com>",
    "<.anna@example.com>",
    "<anna@example..com>",
    "<anna@-example.com>",
    "<anna@example.com",
    "anna",
    "<anna>",
    "<anna@>",
    "<@example.com>",
    "<a@b>",
]


def reference(stock: SMTP, arg: str) -> tuple[str | None, str | None]:
    """aiosmtpd's answer; where it crashes (the stdlib parser's IndexError or AttributeError), "malformed"."""
    try:
        return stock._getaddr(arg)
    except (IndexError, AttributeError):
        return None, None


@pytest.mark.parametrize("arg", PATHS)
def test_parse_path_answers_like_aiosmtpd(stock: SMTP, arg: str) -> None:
    assert parse_path(arg) == reference(stock, arg)


@pytest.mark.parametrize("arg", ["<", "<0@[>"])
def test_parse_path_refuses_what_crashes_aiosmtpd(stock: SMTP, arg: str) -> None:
    with pytest.raises((IndexError, AttributeError)):
        stock._getaddr(arg)
    assert parse_path(arg) == (None, None)


def test_parse_path_keeps_the_local_part_limit(stock: SMTP) -> None:
    stock.local_part_limit = 5
    for arg in ("<anna@example.com>", "<anna.nowak@example.com>", '<"anna nowak"@example.com>'):
        assert parse_path(arg, 5) == reference(stock, arg), arg


_ATOM = st.text("abcXYZ019.-+_!#'=~@<>()[]\" \t:;,\\", min_size=0, max_size=12)


@given(local=_ATOM, domain=_ATOM, before=st.sampled_from(["", " ", "\t"]), after=_ATOM)
def test_parse_path_matches_aiosmtpd_on_generated_paths(local: str, domain: str, before: str, after: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        stock = SMTP(object(), loop=loop, hostname="ref.test", enable_SMTPUTF8=True)
        for arg in (f"{before}<{local}@{domain}>{after}", f"{local}@{domain}{after}"):
            assert parse_path(arg) == reference(stock, arg), repr(arg)
    finally:
        loop.close()


def test_sessions_find_the_same_commands_hooks_and_auth_as_aiosmtpd() -> None:
    # Given a handler with hooks, a stock aiosmtpd session and ours
    handler = GatewayHandler.__new__(GatewayHandler)
    loop = asyncio.new_event_loop()
    try:
        stock = SMTP(handler, loop=loop, hostname="ref.test")
        ours = GatewaySession(None, handler, loop=loop, hostname="ref.test")  # type: ignore[arg-type]
        # Then ours dispatches the same commands, AUTH mechanisms and handler hooks
        assert ours._smtp_methods.keys() == stock._smtp_methods.keys()
        assert ours._auth_methods.keys() == stock._auth_methods.keys()
        assert ours._handle_hooks.keys() == stock._handle_hooks.keys() == {"EHLO", "RCPT", "DATA", "exception"}
        # bound to the new session, not to whichever session came first
        assert ours._smtp_methods["DATA"].__self__ is ours
    finally:
        loop.close()


def test_protocol_names_lists_only_what_aiosmtpd_looks_up() -> None:
    names = protocol_names(GatewaySession)
    assert "smtp_DATA" in names and "auth_PLAIN" in names
    assert all(n.startswith(("smtp_", "auth_", "handle_")) for n in names)
    assert protocol_names(GatewayHandler) == ["handle_DATA", "handle_EHLO", "handle_RCPT", "handle_exception"]
