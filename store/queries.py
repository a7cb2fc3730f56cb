"""Read verbs for the web viewer. Every one takes a ``Viewer`` and applies its visibility inside the SQL.

A message the viewer may not see reads exactly like one that does not exist: absent from lists, ``None`` by id,
and so are its attachments. Directory details are for any viewer; the mail they show goes through the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import dashboard, detail, entities, index_counts, indexes, ingest, timeline
from store.blobs import BlobStore
from store.dashboard import DashboardPanels
from store.models import Team, User
from store.views import (
    AttachmentRef,
    ClientDetail,
    ContactDetail,
    Dashboard,
    InboundView,
    IndexPage,
    IngestRow,
    LeadDetail,
    LeadPage,
    MessageDetail,
    MessageFilter,
    MessagePage,
    MessageRow,
    RecordRef,
    UnresolvedCode,
    UserRef,
    Viewer,
)

T = TypeVar("T")

#: How many of the newest failures the dashboard lists.
RECENT_FAILURES = 10


class QueryVerbs:
    """Mixed into ``store.Store``, which provides ``_run`` and ``list_inbound``."""

    blobs: BlobStore

    def _run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction, database errors wrapped (provided by ``Store``)."""
        raise NotImplementedError

    def list_inbound(
        self, *, status: str | None = None, limit: int = 100, newest_first: bool = True
    ) -> list[InboundView]:
        """The ingest log (provided by ``Store``)."""
        raise NotImplementedError

    def list_users(self) -> list[UserRef]:
        """Every user, by name: the submitters the viewer offers as a filter (the directory is not secret)."""
        stmt = (
            select(User.id, User.email, User.name, User.role, Team.name)
            .outerjoin(Team, Team.id == User.team_id)
            .order_by(User.name, User.id)
        )
        return self._run(lambda session: [UserRef(*row) for row in session.execute(stmt)])

    def get_viewer(self, user_id: int) -> Viewer | None:
        """The user with this id as a viewer (role, team, own addresses), or ``None``."""
        return self._run(lambda session: entities.get_viewer(session, user_id))

    def list_messages(
        self, viewer: Viewer, f: MessageFilter, *, after: str | None = None, limit: int = 50
    ) -> MessagePage:
        """One page of the messages ``viewer`` may see matching ``f``, newest first; ``after`` is a page's ``next``."""
        return self._run(lambda session: timeline.list_messages(session, viewer, f, after, limit))

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
        as a page shows it (``detail.get_message``)."""
        return self._run(lambda session: detail.get_message(session, viewer, message_id, text_limit=text_limit))

    def get_attachment(self, viewer: Viewer, message_id: int, attachment_id: int) -> AttachmentRef | None:
        """An attachment of a message ``viewer`` may see, or ``None``."""
        return self._run(lambda session: detail.get_attachment(session, viewer, message_id, attachment_id))

    def find_attachment_by_cid(self, viewer: Viewer, message_id: int, content_id: str) -> AttachmentRef | None:
        """The attachment a ``cid:`` reference in a visible message's HTML names, or ``None``."""
        return self._run(lambda session: detail.find_attachment_by_cid(session, viewer, message_id, content_id))

    def get_client(self, viewer: Viewer, client_id: int) -> ClientDetail | None:
        """A client with its domains, addresses, contacts and records, or ``None``."""
        return self._run(lambda session: entities.get_client(session, client_id))

    def get_contact(self, viewer: Viewer, contact_id: int) -> ContactDetail | None:
        """A contact with its client and addresses, or ``None``."""
        return self._run(lambda session: entities.get_contact(session, contact_id))

    def get_lead(self, viewer: Viewer, lead_id: int) -> LeadDetail | None:
        """A lead with its owner, conversion and (when ``viewer`` may see it) first message, or ``None``."""
        return self._run(lambda session: entities.get_lead(session, viewer, lead_id))

    def get_record(self, viewer: Viewer, record_id: int) -> RecordRef | None:
        """A record with its code, type, title and client, or ``None``."""
        return self._run(lambda session: entities.get_record(session, record_id))

    def list_leads(self, viewer: Viewer, *, after: str | None = None, limit: int = 50) -> LeadPage:
        """The leads, newest first, a keyset page at a time; ``after`` is a page's ``next``."""
        return self._run(lambda session: entities.list_leads(session, viewer, after, limit))

    def list_unresolved_codes(self, viewer: Viewer, *, limit: int = 500) -> list[UnresolvedCode]:
        """Codes in mail ``viewer`` may see that name no record: messages and latest date each, latest first."""
        return self._run(lambda session: dashboard.list_unresolved_codes(session, viewer, limit))

    def dashboard(self, viewer: Viewer, now: datetime) -> Dashboard:
        """Last 24 h / 7 d counts; inbound counts and recent failures for role ``all`` only."""
        counts = self._run(lambda session: dashboard.dashboard_counts(session, viewer, now))
        if viewer.role != "all":
            return counts
        failures = tuple(self.list_inbound(status="failed", limit=RECENT_FAILURES))
        return dataclasses.replace(counts, recent_failures=failures)

    def dashboard_panels(self, viewer: Viewer, now: datetime) -> DashboardPanels:
        """The dashboard's chart and lists: mail per day by kind (and, role ``all``, by outcome), refusals per
        reason, top unresolved codes, newest leads, queue health (``store.dashboard.DashboardPanels``)."""
        return self._run(lambda session: dashboard.dashboard_panels(session, viewer, now))

    def list_index(
        self, viewer: Viewer, index: str, *, q: str | None = None, sort: str, after: str | None = None, limit: int = 50
    ) -> IndexPage:
        """One page of a directory index (``clients``, ``contacts``, ``leads``, ``records``, ``users``) matching ``q``,
        sorted by ``sort``, each entry with the count and latest date of the mail ``viewer`` may see linked to it."""
        return self._run(
            lambda session: indexes.list_index(session, viewer, index, q=q, sort=sort, after=after, limit=limit)
        )

    def rebuild_index_counts(self) -> None:
        """Count every directory entry's mail again from the links (after a bulk load that bypassed the store)."""
        self._run(index_counts.rebuild_index_counts)

    def list_ingest_log(
        self, *, status: str | None = None, reason: str | None = None, limit: int = 100
    ) -> list[IngestRow]:
        """The newest receipts with the message each was filed as; one status, a reason containing ``reason``."""
        return self._run(lambda session: ingest.list_ingest_log(session, status, reason, limit))

    def get_ingest_row(self, inbound_id: str) -> IngestRow | None:
        """One receipt with the message it was filed as, or ``None``."""
        return self._run(lambda session: ingest.get_ingest_row(session, inbound_id))

    def get_raw_heads(self, sha256s: list[str], size: int) -> dict[str, bytes]:
        """The first ``size`` bytes of each of these raw messages that is stored (a missing one is left out)."""
        wanted = sorted(set(sha256s))
        heads = self._run(lambda session: ingest.inline_heads(session, wanted, size))
        for sha in wanted:
            if sha in heads:
                continue
            try:
                with self.blobs.path_for(sha).open("rb") as f:
                    heads[sha] = f.read(size)
            except (OSError, ValueError):
                continue
        return heads
