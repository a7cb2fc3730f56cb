"""Pure SMTP policy decisions; each returns ``None`` to go on or an SMTP reply to refuse."""

from __future__ import annotations

from collections.abc import Iterable

from linker.submitter import normalize_address


class RecipientPolicy:
    """Accepts only the assistant's own addresses (and their ``+tag`` sub-addresses): never an open relay."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self.addresses = frozenset(normalize_address(a) for a in addresses)

    def accepts(self, address: str) -> bool:
        """Whether mail to ``address`` is for us. Case-insensitive; ``local+tag@domain`` counts as ``local``."""
        address = normalize_address(address)
        if address in self.addresses:
            return True
        local, at, domain = address.rpartition("@")
        base, plus, _tag = local.partition("+")
        return bool(at and plus and base) and f"{base}@{domain}" in self.addresses

    def check(self, address: str) -> str | None:
        """``None`` to accept the recipient, else a 550 reply."""
        if self.accepts(address):
            return None
        return f"550 5.1.1 <{address}>: Recipient address rejected: this server only accepts mail for the assistant"


def too_many_recipients(count: int, limit: int) -> str | None:
    """A 452 once ``count`` recipients are already accepted (RFC 5321 §4.5.3.1.10)."""
    return "452 4.5.3 Too many recipients" if count >= limit else None


def unknown_submitter(mail_from: str) -> str:
    """The 550 for mail that is neither from a CRM user nor addressed to one."""
    sender = mail_from or "<>"
    return (
        f"550 5.7.1 Sender {sender} is not a registered user and no recipient is one: "
        "the assistant files mail only for its CRM users"
    )


#: Our own fault (disk, database): the sending server keeps the mail and retries.
TEMPORARY_FAILURE = "451 4.3.0 Temporary storage failure, please try again later"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
SESSION_TOO_LONG = "421 4.4.2 Session time limit exceeded"
#: Every DATA slot (``smtp.max_concurrent_data``) stayed busy for a minute: the sender retries later.
TOO_BUSY = "451 4.3.2 Too many messages arriving at once, please try again later"
