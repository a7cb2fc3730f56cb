"""``Store``: the database and the blob directory, opened once per process, and the verb groups over them.

Each group is an attribute (``store.receipts.add_inbound(...)``, ``store.directory.find_people(...)``) built on the
one ``Database`` (and the blob store where it needs one); no group calls another. ``Store`` itself keeps only the
lifecycle: open, migrate, close, ``after_fork``, ``ping``.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

from sqlalchemy import Engine, select

from store.auth import Auth
from store.blobs import BlobStore
from store.content import Content
from store.database import Database
from store.db import check_schema
from store.db import upgrade as migrate
from store.filing import Filing
from store.lookups import Directory
from store.metrics import Metrics
from store.queries import Queries
from store.receipts import Receipts
from store.sources import Sources
from store.staged import StagedInbound, Trust
from store.webhooks import Webhooks

__all__ = ["INLINE_MAX", "StagedInbound", "Store", "Trust"]

#: Blobs (raw messages, attachments) of up to this many bytes are kept in the database by default: they commit
#: with their row, where a file costs an fsync of its own and three directory syncs (``bench/smtp_intake.py``).
INLINE_MAX = 64 * 1024


class Store:
    """Database plus blob directory, opened once per process; the verbs are in its groups."""

    def __init__(
        self,
        url: str,
        blob_dir: str | os.PathLike[str],
        *,
        connect_timeout: float = 5.0,
        inline_max: int = INLINE_MAX,
    ) -> None:
        self.url = url
        self.database = Database(url, connect_timeout=connect_timeout)
        self.blobs = BlobStore(blob_dir)
        #: Receipts: the incoming queue (intake, worker, ``mailassist queue``).
        self.receipts = Receipts(self.database, self.blobs, inline_max=inline_max)
        #: Stored bytes: raw messages and attachments.
        self.content = Content(self.database, self.blobs)
        #: Linking plans applied, relinks, re-files and repairs.
        self.filing = Filing(self.database, self.blobs, inline_max=inline_max)
        #: Users, clients, contacts, leads and records: lookups, imports, deletes.
        self.directory = Directory(self.database)
        #: Logins, sessions, assistant addresses, API tokens.
        self.auth = Auth(self.database)
        #: The web viewer's reads, each through a ``Viewer``'s visibility.
        self.queries = Queries(self.database)
        #: ``/metrics`` counters.
        self.metrics = Metrics(self.database)
        #: The webhook outbox.
        self.webhooks = Webhooks(self.database)
        #: IMAP mailbox sources: leases and progress per folder.
        self.sources = Sources(self.database)

    @property
    def engine(self) -> Engine:
        """The database's (durable) engine: migrations, benchmarks."""
        return self.database.engine

    @property
    def inline_max(self) -> int:
        """Blobs up to this size live in the database (``InlineBlob``), larger ones as files; 0: all files."""
        return self.receipts.inline_max

    @inline_max.setter
    def inline_max(self, value: int) -> None:
        """Both groups that write blobs keep the threshold; tests and benchmarks change it after opening."""
        self.receipts.inline_max = value
        self.filing.inline_max = value

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the embedded SQLite store."""
        return self.database.dialect == "sqlite"

    def open(self, *, upgrade: bool | None = None) -> None:
        """Prepare blobs and check the schema; SQLite (or ``upgrade=True``) migrates itself instead."""
        try:
            self.blobs.open()
            if upgrade if upgrade is not None else self.is_sqlite:
                migrate(self.engine)
            else:
                check_schema(self.engine)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release pooled connections and threads."""
        self.database.close()
        self.blobs.close()

    def after_fork(self) -> None:
        """In a forked child: new connections for this process (``Database.after_fork``)."""
        self.database.after_fork()

    def reading(self) -> AbstractContextManager[None]:
        """Serve this thread's reads from one connection until the block ends (``Database.reading``)."""
        return self.database.reading()

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` unless the database answers."""
        self.database.run(lambda s: s.execute(select(1)).scalar_one())
