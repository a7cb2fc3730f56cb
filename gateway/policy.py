"""Pure SMTP policy decisions; each returns ``None`` to go on or an SMTP reply to refuse."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable

from linker.submitter import normalize_address

#: A secret address token: 120 random bits in lower-case base32 (``assistant+TOKEN@domain``).
TOKEN_BYTES = 15
_TOKEN = re.compile(r"[a-z2-7]{24}")


def new_address_token() -> str:
    """A fresh secret address token (show it once; keep only ``hash_address_token`` of it)."""
    return base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").lower()


def hash_address_token(token: str) -> str:
    """What the store keeps of a token: its SHA-256 (the token is random, so no slow hash is needed)."""
    return hashlib.sha256(token.lower().encode("ascii")).hexdigest()


class RecipientPolicy:
    """Accepts only the assistant's own addresses (and their ``+tag`` sub-addresses): never an open relay."""

    def __init__(self, addresses: Iterable[str]) -> None:
        ordered = [normalize_address(a) for a in addresses]
        self.addresses = frozenset(ordered)
        self.domains = frozenset(a.rpartition("@")[2] for a in ordered)
        #: The first configured address, as ``(local, domain)``: personal addresses are made from it.
        self.primary: tuple[str, str] | None = None
        if ordered:
            local, _, domain = ordered[0].rpartition("@")
            self.primary = (local, domain)

    def accepts(self, address: str) -> bool:
        """Whether mail to ``address`` is for us. Case-insensitive; ``local+tag@domain`` counts as ``local``."""
        address = normalize_address(address)
        if address in self.addresses:
            return True
        local, at, domain = address.rpartition("@")
        base, plus, _tag = local.partition("+")
        return bool(at and plus and base) and f"{base}@{domain}" in self.addresses

    def token_of(self, address: str) -> str | None:
        """The secret token in ``assistant+TOKEN@domain``, or ``None`` when the tag is absent or not token-shaped
        (other tags are the plain assistant address)."""
        local, at, domain = normalize_address(address).rpartition("@")
        base, plus, tag = local.partition("+")
        if at and plus and f"{base}@{domain}" in self.addresses and _TOKEN.fullmatch(tag):
            return tag
        return None

    def personal_address(self, token: str) -> str:
        """The first assistant address with ``token`` as its tag."""
        assert self.primary is not None, "no assistant address configured"
        local, domain = self.primary
        return f"{local}+{token}@{domain}"

    def is_postmaster(self, address: str) -> bool:
        """Whether ``address`` is ``postmaster`` (bare, or at an assistant domain): RFC 5321 §4.5.1 says always
        accept it."""
        address = normalize_address(address)
        if address == "postmaster":
            return True
        local, at, domain = address.rpartition("@")
        return bool(at) and local == "postmaster" and domain in self.domains

    def check(self, address: str) -> str | None:
        """``None`` to accept the recipient, else a 550 reply."""
        if self.accepts(address) or self.is_postmaster(address):
            return None
        return f"550 5.1.1 <{address}>: Recipient address rejected: this server only accepts mail for the assistant"


def too_many_recipients(count: int, limit: int) -> str | None:
    """A 452 once ``count`` recipients are already accepted (RFC 5321 §4.5.3.1.10)."""
    return "452 4.5.3 Too many recipients" if count >= limit else None


def unknown_personal_address(address: str) -> str:
    """The 550 for a secret assistant address whose token is unknown (mistyped, or rotated)."""
    return (
        f"550 5.1.1 <{address}>: this personal assistant address is not valid (it may have been replaced): "
        "ask for the current one ('mailassist user address YOUR-EMAIL')"
    )


#: Our own fault (disk, database): the sending server keeps the mail and retries.
TEMPORARY_FAILURE = "451 4.3.0 Temporary storage failure, please try again later"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
SESSION_TOO_LONG = "421 4.4.2 Session time limit exceeded"
#: Every DATA slot (``smtp.max_concurrent_data``) stayed busy for a minute: the sender retries later.
TOO_BUSY = "451 4.3.2 Too many messages arriving at once, please try again later"


def too_big(limit: int) -> str:
    """The 552 for a message (or a ``SIZE=`` declaration) over ``smtp.max_message_size``."""
    return f"552 5.3.4 Message too big for system: the limit is {limit} bytes"


def too_many_connections_from(host: str, limit: int) -> str:
    """The 421 at connect for a client with ``smtp.max_connections_per_ip`` connections open already."""
    return f"421 4.7.0 Too many connections from {host} (at most {limit}), try again later"


def too_much_mail_from(host: str, limit: int) -> str:
    """The 450 at MAIL for a client over ``smtp.max_messages_per_minute_per_ip``."""
    return f"450 4.7.1 Too much mail from {host} (at most {limit} messages a minute), try again later"


def too_many_at_once_from(host: str, limit: int) -> str:
    """The 451 at DATA when a client's ``smtp.max_data_per_ip`` slots stayed busy for the whole slot wait."""
    return f"451 4.7.1 Too many messages at once from {host} (at most {limit}), try again later"


#: No byte of the message for ``smtp.data_timeout`` seconds; the connection is closed after it.
DATA_TIMEOUT = "421 4.4.2 Timeout waiting for message data, closing connection"
#: The message arrives slower than ``smtp.min_data_rate`` on average; the connection is closed after it.
DATA_TOO_SLOW = "421 4.4.2 Message data arriving too slowly, closing connection"
#: ``smtp.require_tls``: MAIL before STARTTLS (RFC 3207 §4).
TLS_REQUIRED = "530 5.7.0 Must issue a STARTTLS command first"
#: A second STARTTLS inside TLS (RFC 3207 §4.2).
TLS_ACTIVE = "503 5.5.1 TLS already active"
