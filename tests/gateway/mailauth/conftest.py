"""The mail authentication tests ask the local DNS server (``tests.dnsserver``) through a real resolver."""

from __future__ import annotations

import pytest

from gateway.mailauth import Authenticator, Resolver
from tests.dnsserver import LocalDNS, Zone


@pytest.fixture
def zone(dns_server: LocalDNS) -> Zone:
    """The local DNS server's zone, empty."""
    return dns_server.zone


@pytest.fixture
def auth(dns_server: LocalDNS) -> Authenticator:
    """An Authenticator asking only the local DNS server."""
    return Authenticator(Resolver([dns_server.address], timeout=5.0))
