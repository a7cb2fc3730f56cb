"""Read verbs for the web viewer. Every one takes a ``Viewer`` and applies its visibility inside the SQL.

A message the viewer may not see reads exactly like one that does not exist: absent from lists, ``None`` by id,
and so are its attachments. Directory details are for any viewer; the mail they show goes through the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.conversations import list_conversations
from store.dashboard import DashboardPanels, dashboard_counts, dashboard_panels, list_unresolved_codes
from store.database import Database
from store.detail import find_attachment_by_cid, get_attachment, get_message
from store.entry_details import get_client, get_contact, get_lead, get_record, get_viewer, list_leads
from store.index_counts import rebuild_index_counts
from store.indexes import list_index
from store.ingest import get_ingest_row, list_ingest_log
from store.models import Team, User
from store.page_shapes import (
    AttachmentRef,
    ClientDetail,
    ContactDetail,
    ConversationPage,
    Dashboard,
    IndexPage,
    IngestPage,
    IngestRow,
    LeadDetail,
    LeadPage,
    MessageDetail,
    MessageFilter,
    MessagePage,
    MessageRow,
    UnresolvedCode,
    Viewer,
)
from store.receipts import list_inbound
from store.shapes import RecordRef, UserRef
from store.team_mail import rebuild_team_mail
from store.timeline import list_messages

#: How many of the newest failures the dashboard lists.
RECENT_FAILURES = 10


class Queries:
    """What the web viewer reads, each through the viewer's visibility."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def list_users(self) -> list[UserRef]:
        """Every user, by name: the submitters the viewer offers as a filter (the directory is not secret)."""
        stmt = (
            select(User.id, User.email, User.name, User.role, Team.name)
            .outerjoin(Team, Team.id == User.team_id)
            .order_by(User.name, User.id)
        )
        return self._db.run(lambda session: [UserRef(*row) for row in session.execute(stmt)])

    def get_viewer(self, user_id: int) -> Viewer | None:
        """The user with this id as a viewer (role, team, own addresses), or ``None``."""
        return self._db.run(lambda session: get_viewer(session, user_id))

    def list_messages(
        self, viewer: Viewer, f: MessageFilter, *, after: str | None = None, limit: int = 50
    ) -> MessagePage:
        """One page of the messages ``viewer`` may see matching ``f``, newest first; ``after`` is a page's ``next``."""
        return self._db.run(lambda session: list_messages(session, viewer, f, after, limit))

    def list_conversations(
        self, viewer: Viewer, f: MessageFilter, *, person: str | None = None, after: str | None = None, limit: int = 20
    ) -> ConversationPage:
        """One page of the conversations (``store.conversations``) of the messages ``viewer`` may see matching ``f``
        (and, with ``person``, with that address in From, To or Cc), newest first; ``after`` is a page's ``next``."""
        return self._db.run(
            lambda session: list_conversations(session, viewer, f, person=person, after=after, limit=limit)
        )

    def iter_messages(self, viewer: Viewer, f: MessageFilter, *, batch: int = 500) -> Iterator[MessageRow]:
        """Every message ``viewer`` may see matching ``f``, newest first, read a page at a time (CSV export)."""
        after: str | None = None
        while True:
            page = self.list_messages(viewer, f, after=after, limit=batch)
            yield from page.items
            if page.next is None:
                return
            after = page.next

    def get_message(self, viewer: Viewer, message_id: int, *, text_limit: int | None = None) -> MessageDetail | None:
        """The message in full, or ``None`` when it does not exist or ``viewer`` may not see it; with ``text_limit``,
        as a page shows it (``store.detail.get_message``)."""
        return self._db.run(lambda session: get_message(session, viewer, message_id, text_limit=text_limit))

    def get_attachment(self, viewer: Viewer, message_id: int, attachment_id: int) -> AttachmentRef | None:
        """An attachment of a message ``viewer`` may see, or ``None``."""
        return self._db.run(lambda session: get_attachment(session, viewer, message_id, attachment_id))

    def find_attachment_by_cid(self, viewer: Viewer, message_id: int, content_id: str) -> AttachmentRef | None:
        """The attachment a ``cid:`` reference in a visible message's HTML names, or ``None``."""
        return self._db.run(lambda session: find_attachment_by_cid(session, viewer, message_id, content_id))

    def get_client(self, viewer: Viewer, client_id: int) -> ClientDetail | None:
        """A client with its domains, addresses, contacts and records, or ``None``."""
        return self._db.run(lambda session: get_client(session, client_id))

    def get_contact(self, viewer: Viewer, contact_id: int) -> ContactDetail | None:
        """A contact with its client and addresses, or ``None``."""
        return self._db.run(lambda session: get_contact(session, contact_id))

    def get_lead(self, viewer: Viewer, lead_id: int) -> LeadDetail | None:
        """A lead with its owner, conversion and (when ``viewer`` may see it) first message, or ``None``."""
        return self._db.run(lambda session: get_lead(session, viewer, lead_id))

    def get_record(self, viewer: Viewer, record_id: int) -> RecordRef | None:
        """A record with its code, type, title and client, or ``None``."""
        return self._db.run(lambda session: get_record(session, record_id))

    def list_leads(self, viewer: Viewer, *, after: str | None = None, limit: int = 50) -> LeadPage:
        """The leads, newest first, a keyset page at a time; ``after`` is a page's ``next``."""
        return self._db.run(lambda session: list_leads(session, viewer, after, limit))

    def list_unresolved_codes(self, viewer: Viewer, *, limit: int = 500) -> list[UnresolvedCode]:
        """Codes in mail ``viewer`` may see that name no record: messages and latest date each, latest first."""
        return self._db.run(lambda session: list_unresolved_codes(session, viewer, limit))

    def dashboard(self, viewer: Viewer, now: datetime) -> Dashboard:
        """Last 24 h / 7 d counts; inbound counts and recent failures for role ``all`` only."""
        counts = self._db.run(lambda session: dashboard_counts(session, viewer, now))
        if viewer.role != "all":
            return counts
        failures = tuple(
            self._db.run(lambda s: list_inbound(s, status="failed", limit=RECENT_FAILURES, newest_first=True))
        )
        return dataclasses.replace(counts, recent_failures=failures)

    def dashboard_panels(self, viewer: Viewer, now: datetime, zone: tzinfo = UTC) -> DashboardPanels:
        """The dashboard's chart and lists: mail per day (days of ``zone``, the viewer's) by kind (and, role
        ``all``, by outcome), refusals per reason, top unresolved codes, newest leads, queue health
        (``store.dashboard.DashboardPanels``)."""
        return self._db.run(lambda session: dashboard_panels(session, viewer, now, zone))

    def list_index(
        self, viewer: Viewer, index: str, *, q: str | None = None, sort: str, after: str | None = None, limit: int = 50
    ) -> IndexPage:
        """One page of a directory index (``clients``, ``contacts``, ``leads``, ``records``, ``users``) matching ``q``,
        sorted by ``sort``, each entry with the count and latest date of the mail ``viewer`` may see linked to it."""
        return self._db.run(
            lambda session: list_index(session, viewer, index, q=q, sort=sort, after=after, limit=limit)
        )

    def rebuild_index_counts(self) -> None:
        """Count every directory entry's mail again from the links, and decide again which mail each team sees
        (after a bulk load that bypassed the store)."""

        def rebuild(session: Session) -> None:
            rebuild_index_counts(session)
            rebuild_team_mail(session)

        self._db.run(rebuild)

    def list_ingest_log(
        self, *, status: str | None = None, reason: str | None = None, limit: int = 100, after: str | None = None
    ) -> IngestPage:
        """A page of receipts, newest first, with the message each was filed as; one status, a reason containing
        ``reason``; from just after the cursor ``after``."""
        return self._db.run(lambda session: list_ingest_log(session, status, reason, limit, after))

    def get_ingest_row(self, inbound_id: str) -> IngestRow | None:
        """One receipt with the message it was filed as, or ``None``."""
        return self._db.run(lambda session: get_ingest_row(session, inbound_id))
