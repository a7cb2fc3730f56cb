"""Helpers for driving the gateway over real loopback SMTP: a user, a message, one transaction."""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from store import InboundView, Store, StoreError
from store.models import User, UserAddress
from store.staged import StagedInbound
from tests.gateway.conftest import ASSISTANT, Running

USER = "anna.nowak@example.com"


def add_user(store: Store, email: str, *aliases: str) -> None:
    with Session(store.engine) as s, s.begin():
        user = User(email=email, name="Anna Nowak", role="all")
        user.addresses = [UserAddress(address=email, is_primary=True)]
        user.addresses += [UserAddress(address=a, is_primary=False) for a in aliases]
        s.add(user)


def message(sender: str = USER, to: str = "jan.kowalski@acme-logistics.pl", extra: str = "", body: str = "Hi") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\n{extra}Subject: Fleet renewal OP-123\r\n"
        f"Message-ID: <{time.monotonic_ns()}@example.com>\r\n\r\n{body}\r\n"
    ).encode()


def send(running: Running, raw: bytes, *, sender: str = USER, rcpts: Sequence[str] = (ASSISTANT,)) -> tuple[int, str]:
    """One transaction; returns the final reply to DATA (or the first refusal)."""
    c = running.client()
    try:
        c.ehlo("client.test")
        code, text = c.mail(sender)
        for r in rcpts:
            if code != 250:
                break
            code, text = c.rcpt(r)
        if code == 250:
            code, text = c.data(raw)
        return code, text.decode()
    finally:
        # The server may hang up after its reply (shutdown); the reply is what counts.
        with contextlib.suppress(smtplib.SMTPServerDisconnected, OSError):
            c.quit()
        c.close()


class Wrapped:
    """The store as the gateway sees it (``gateway.intake.IntakeStore``), with itself as the receipts group:
    subclasses change one step of the intake."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.inline_max = inner.inline_max
        self.directory = inner.directory
        self.auth = inner.auth
        self.metrics = inner.metrics

    @property
    def receipts(self) -> Wrapped:
        return self

    def stage_inbound(self, raw: bytes, **kw: Any) -> StagedInbound:
        return self.inner.receipts.stage_inbound(raw, **kw)

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> Sequence[InboundView | StoreError]:
        return self.inner.receipts.add_inbound_batch(batch)

    def after_fork(self) -> None:
        self.inner.after_fork()


class HeldStore(Wrapped):
    """Lets the test hold a DATA command inside storage (in the group commit, after its blob is written)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.committed: list[str] = []

    def add_inbound_batch(self, batch: Sequence[StagedInbound]) -> list[InboundView | StoreError]:
        self.entered.set()
        assert self.release.wait(10)
        outcomes = self.inner.receipts.add_inbound_batch(batch)
        self.committed += [o.id for o in outcomes if isinstance(o, InboundView)]
        return outcomes
