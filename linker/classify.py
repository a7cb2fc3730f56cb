"""Who submitted a message, and what kind it is: ``bcc``, ``forward`` or ``redirect`` (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from linker.directory import UserInfo
from linker.model import Direction, Kind, Original, ParsedMessage
from linker.settings import LinkerSettings
from linker.submitter import Candidate, pick_submitter


@dataclass(frozen=True, slots=True)
class Submission:
    """The user the mail came in for, and where we saw them (``envelope``, ``From``, ``X-Forwarded-To``…)."""

    address: str
    via: str
    user: UserInfo


def find_submission(candidates: list[Candidate], users: Mapping[str, UserInfo]) -> Submission | None:
    """The submitting user, or ``None`` when no candidate address belongs to one."""
    picked = pick_submitter(candidates, users)
    if picked is None:
        return None
    return Submission(picked.address, picked.source, users[picked.address])


def proven_submission(address: str, proof: str | None, users: Mapping[str, UserInfo]) -> Submission | None:
    """The submission the gateway proved (``address`` by ``proof``), or ``None`` when the address is no longer a
    user's."""
    user = users.get(address)
    return Submission(address, proof or "gateway", user) if user is not None else None


def sender_of(message: ParsedMessage, settings: LinkerSettings) -> str | None:
    """The normalised address in the message's own From."""
    for mailbox in message.from_:
        if mailbox.address:
            return settings.normalize(mailbox.address)
    return None


def classify(
    message: ParsedMessage,
    forwarded: Original | None,
    submission: Submission | None,
    *,
    users: Mapping[str, UserInfo],
    settings: LinkerSettings,
) -> tuple[Kind, Direction]:
    """Kind and direction, given the forwarded original (if any) and the submission (if any)."""
    sender = sender_of(message, settings)
    from_user = users.get(sender) if sender else None
    if submission is not None and (from_user is None or from_user.id != submission.user.id):
        # Someone else's mail that reached us through the user's mailbox: a rule, a redirect, a Gmail copy
        return "redirect", "incoming"
    if forwarded is None:
        return "bcc", "outgoing"
    original_sender = (
        settings.normalize(forwarded.from_.address) if forwarded.from_ and forwarded.from_.address else None
    )
    if original_sender is not None and (
        (submission is not None and original_sender == submission.address)
        or original_sender in users
        or settings.is_org_domain(original_sender)
    ):
        return "forward", "outgoing"
    return "forward", "incoming"
