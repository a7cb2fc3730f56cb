"""IMAP sources against a real Dovecot over TLS: implicit and STARTTLS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mailassist.imap import SourceError, connect
from store import Store
from tests.mailassist.dovecot import Dovecot
from tests.mailassist.imap.support import ANNA_PASSWORD, mailbox, message, poller

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_implicit_and_starttls(
    store: Store, make_dovecot: Callable[..., Dovecot], tls_files: tuple[Path, Path, Path], tmp_path: Path, tls: str
) -> None:
    chain, key, ca = tls_files
    server = make_dovecot(cert=(chain, key))
    server.add_user("anna", ANNA_PASSWORD)
    server.deliver("anna", message(1))
    port = server.tls_port if tls == "implicit" else server.port
    box = mailbox(server, tmp_path, tls=tls, port=port, tls_ca_file=str(ca))
    assert poller(store, box).poll().new == 1

    # A server whose certificate is not trusted is refused before the password is sent
    untrusted = mailbox(server, tmp_path, tls=tls, port=port)
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(untrusted)
