"""The I/O edge that authenticates one message: DKIM, SPF, DMARC and ARC over our own DNS resolver, and the reader of
a trusted relay's Authentication-Results. It only reports results; ``gateway.trust`` decides with them.

Everything here reads attacker input: no check raises for a bad message, DNS names are validated before any lookup,
and the work per message is bounded (signatures, ARC sets, header bytes, a DNS time budget).

One module per piece: ``results`` (what a check reports), ``headers`` (the header section, bounded), ``resolver``
(DNS and its cache), ``keys`` (DKIM and ARC keys, RSA through OpenSSL), ``signatures`` (DKIM and ARC through
dkimpy), ``spfcheck`` (SPF through pyspf), ``dmarc``, ``relay`` (a relay's Authentication-Results) and
``authenticator`` (all of them for one message). Callers import from here.
"""

from __future__ import annotations

from gateway.mailauth.authenticator import Authenticator, Settled
from gateway.mailauth.headers import MAX_HEADER_BYTES
from gateway.mailauth.relay import relay_results
from gateway.mailauth.resolver import DNSTemporaryError, Resolver
from gateway.mailauth.results import METHODS, RESULTS, SKIPPED, AuthResults, Check

__all__ = [
    "MAX_HEADER_BYTES",
    "METHODS",
    "RESULTS",
    "SKIPPED",
    "AuthResults",
    "Authenticator",
    "Check",
    "DNSTemporaryError",
    "Resolver",
    "Settled",
    "relay_results",
]
