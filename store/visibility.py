"""Who may see which message (DESIGN.md, "Visibility"), as SQL every read query includes: one rule, three forms.

``all`` sees everything. ``own`` sees mail the viewer submitted (the message's submitter, or a ``user`` link) or
where one of the viewer's addresses is a participant (From, To or Cc). ``team`` sees the same for every member of
the viewer's team, their addresses read from ``user_addresses``; a ``team`` viewer without a team sees its own.
Any other role sees nothing.

A team's mail is decided when it changes, not when it is read: ``team_mail`` keeps a row per team and message it
may see (``store.team_mail`` writes it as mail is filed and as members and their addresses change), and a team
viewer's queries read those rows. A team of ten sees tens of thousands of messages, and deciding them from the
members, addresses and links cost each statement tens of milliseconds.

The forms differ only in cost, and a test holds them equal for every kind of viewer. ``visible`` is
``messages.id IN (…)`` over a union of indexed lookups (a team's: its kept rows): a viewer who sees little is
served from the indexes rather than by filtering every message. ``visible_each`` checks one message at a time by
its key: for a query whose other conditions keep few messages (``visible_few`` picks). ``visible_mail`` is the
union as a CTE with each message's date, for counting all of a viewer's mail.

A lead (an address and a name taken from someone's mail) is seen by whoever may see a message linked to it, or
owns it (``own``: the viewer; ``team``: the viewer's team): a lead never shows who someone else wrote to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CTE, ColumnElement, Select, exists, false, func, or_, select, true, type_coerce, union
from sqlalchemy.orm import InstrumentedAttribute, aliased

from store.kept_models import TeamCount, TeamMail
from store.models import Lead, Link, Message, Participant, User, UTCDateTime
from store.page_shapes import Viewer

#: Participant roles that make a message someone's: From, To and Cc.
PARTICIPANT_ROLES = ("from", "to", "cc")
#: When a message counts as sent: its Date header, else when it was filed (the timelines' order).
SENT = type_coerce(func.coalesce(Message.date, Message.created_at), UTCDateTime)


def _own_ids(viewer: Viewer) -> list[Select[int]]:
    parts = [
        select(Message.id).where(Message.submitter_user_id == viewer.user_id),
        select(Link.message_id).where(Link.entity_type == "user", Link.entity_id == viewer.user_id),
    ]
    if viewer.addresses:
        parts.append(
            select(Participant.message_id).where(
                Participant.address.in_(sorted(set(viewer.addresses))), Participant.role.in_(PARTICIPANT_ROLES)
            )
        )
    return parts


def _team_ids(team_id: int) -> list[Select[int]]:
    return [select(TeamMail.message_id).where(TeamMail.team_id == team_id)]


def _id_parts(viewer: Viewer) -> list[Select[int]] | None:
    """The indexed lookups whose union is the ids of the messages ``viewer`` may see; ``None`` for every message, an
    empty list for none."""
    if viewer.role == "all":
        return None
    if viewer.role == "team" and viewer.team_id is not None:
        return _team_ids(viewer.team_id)
    if viewer.role in ("team", "own"):
        return _own_ids(viewer)
    return []


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """The condition on ``messages`` that holds for exactly the messages ``viewer`` may see."""
    parts = _id_parts(viewer)
    if parts is None:
        return true()
    if not parts:
        return false()
    return Message.id.in_(union(*parts))


def _owners(viewer: Viewer) -> Any:
    """The users whose mail (submitted, or linked to them) a ``team`` or ``own`` viewer sees, as a list or a
    subquery; ``None`` for any other role."""
    if viewer.role == "team" and viewer.team_id is not None:
        return select(User.id).where(User.team_id == viewer.team_id)
    if viewer.role in ("team", "own"):
        return [viewer.user_id]
    return None


def visible_each(viewer: Viewer) -> ColumnElement[bool]:
    """The condition of ``visible``, tested message by message with lookups by the message's key: for a few
    candidate messages (a page's entries' mail), where ``visible`` would first list every message the viewer may
    see (a team sees thousands)."""
    if viewer.role == "all":
        return true()
    if viewer.role == "team" and viewer.team_id is not None:
        return exists().where(TeamMail.team_id == viewer.team_id, TeamMail.message_id == Message.id)
    if viewer.role not in ("team", "own"):
        return false()
    members, addresses = [viewer.user_id], sorted(set(viewer.addresses))
    # Aliases: the condition may stand inside a query that reads links or participants itself, whose rows these
    # lookups must not be correlated with.
    link, person = aliased(Link), aliased(Participant)
    user_link = exists().where(link.message_id == Message.id, link.entity_type == "user", link.entity_id.in_(members))
    took_part = exists().where(
        person.message_id == Message.id,
        person.role.in_(PARTICIPANT_ROLES),
        person.address.in_(addresses),
    )
    return or_(Message.submitter_user_id.in_(members), user_link, took_part)


def visible_few(viewer: Viewer) -> ColumnElement[bool]:
    """Visibility for a query whose other conditions keep few messages (the last day or week, unresolved codes): a
    team's checked message by message (``visible_each``), anyone else's as ``visible``. Listing a team's mail
    first costs the same however few messages the query keeps."""
    return visible_each(viewer) if viewer.role == "team" else visible(viewer)


def visible_mail(viewer: Viewer) -> CTE | None:
    """The messages ``viewer`` may see with when each was sent, as a CTE (``id``, ``sent``); ``None`` for every
    message. Each date is read by the message's key: joined to the messages instead, the union's estimate (often
    several times its real size) made PostgreSQL scan every message to hash them."""
    if viewer.role == "team" and viewer.team_id is not None:
        kept = select(TeamMail.message_id.label("id"), TeamMail.sent.label("sent"))
        return kept.where(TeamMail.team_id == viewer.team_id).cte("visible_mail")
    parts = _id_parts(viewer)
    if parts is None:
        return None
    if not parts:
        return select(Message.id.label("id"), SENT.label("sent")).where(false()).cte("visible_mail")
    ids = union(*parts).subquery()
    sent = select(SENT).where(Message.id == ids.c.id).scalar_subquery()
    return select(ids.c.id.label("id"), sent.label("sent")).cte("visible_mail")


def visible_id(viewer: Viewer, message_id: InstrumentedAttribute[int | None]) -> ColumnElement[int | None]:
    """``message_id`` where the viewer may see that message, else NULL (for ids shown beside other data)."""
    if viewer.role == "all":
        return message_id.expression
    return select(Message.id).where(Message.id == message_id, visible(viewer)).scalar_subquery()


def lead_visible(viewer: Viewer) -> ColumnElement[bool]:
    """The condition on ``leads`` that holds for exactly the leads ``viewer`` may see. A team's are those its kept
    counts hold (``team_counts`` has a row for a lead exactly when mail the team sees is linked to it)."""
    if viewer.role == "all":
        return true()
    owners = _owners(viewer)
    if owners is None:
        return false()
    if viewer.role == "team" and viewer.team_id is not None:
        counted = TeamCount.team_id == viewer.team_id, TeamCount.index_name == "leads"
        return Lead.owner_user_id.in_(owners) | Lead.id.in_(select(TeamCount.entity_id).where(*counted))
    # An ``own`` viewer, or a ``team`` one without a team: its own mail.
    own = union(*_own_ids(viewer))
    linked = select(Link.entity_id).where(Link.entity_type == "lead", Link.message_id.in_(own))
    return Lead.owner_user_id.in_(owners) | Lead.id.in_(linked)
