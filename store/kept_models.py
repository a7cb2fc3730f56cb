"""The tables the store keeps from the mail it filed, for pages to read instead of working them out per query:
counts per directory entry (``store.index_counts``) and the mail each team may see (``store.team_mail``).

Derived and rebuildable (``store.queries.rebuild_index_counts``); only those two modules write them. Models of
their own module, beside ``store.models`` as ``store.webhooks`` and ``store.sources`` are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, UTCDateTime


class IndexCount(Base):
    """How many messages are linked to one directory entry, and the latest one's date: the counts the indexes show
    a viewer of role ``all`` (``store.index_counts``), kept by the store whenever links are added or removed.

    ``index_name`` is the index (``clients``, ``contacts``, ``leads``, ``records``, ``users``): a client counts its
    contacts' and records' mail too, a user what it submitted. An entry with no mail has no row."""

    __tablename__ = "index_counts"
    index_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TeamMail(Base):
    """A message a team may see (``store.visibility``'s rule for a team), with when it counts as sent: kept by the
    store as mail is filed and as users' teams and addresses change (``store.team_mail``). A team viewer's pages
    read the team's mail from here instead of deciding it anew from members, addresses and links per query."""

    __tablename__ = "team_mail"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    sent: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # A team's mail newest first, and a message's teams when its links change or it is deleted.
        Index("ix_team_mail_team_sent", "team_id", "sent", "message_id"),
        Index("ix_team_mail_message", "message_id"),
    )


class TeamCount(Base):
    """``IndexCount`` for the mail one team may see: the counts the indexes show a ``team`` viewer
    (``store.index_counts``), kept with ``team_mail``."""

    __tablename__ = "team_counts"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    index_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
