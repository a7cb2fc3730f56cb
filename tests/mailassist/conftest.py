"""Fixtures of the mailassist tests: a throwaway Dovecot (``tests.mailassist.dovecot``).

Like PostgreSQL and Redis, a test needing Dovecot skips only when it is not installed AND ``CI`` is unset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from tests.conftest import require_service
from tests.mailassist.dovecot import Dovecot, dovecot_binary


@pytest.fixture
def dovecot_path() -> str:
    """The ``dovecot`` binary (Debian: ``apt-get install dovecot-imapd``)."""
    path = dovecot_binary()
    require_service("dovecot (Debian package dovecot-imapd)", path is not None)
    assert path is not None
    return path


@pytest.fixture
def make_dovecot(dovecot_path: str) -> Iterator[Callable[..., Dovecot]]:
    """``make_dovecot(cert=None)``: a started Dovecot of its own, stopped and removed after the test."""
    servers: list[Dovecot] = []

    def make(*, cert: tuple[Path, Path] | None = None, start: bool = True) -> Dovecot:
        server = Dovecot(dovecot_path, cert=cert)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def dovecot(make_dovecot: Callable[..., Dovecot]) -> Dovecot:
    """A started plain-IMAP Dovecot."""
    return make_dovecot()


@pytest.fixture(scope="session")
def imap_ca() -> trustme.CA:
    """A throwaway CA for the TLS tests."""
    return trustme.CA()


@pytest.fixture
def tls_files(imap_ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A certificate for 127.0.0.1 and localhost from ``imap_ca``: (chain, key, CA) PEM files."""
    cert = imap_ca.issue_cert("127.0.0.1", "localhost")
    chain, key, ca = tmp_path / "imap-cert.pem", tmp_path / "imap-key.pem", tmp_path / "imap-ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    imap_ca.cert_pem.write_to_path(str(ca))
    return chain, key, ca
