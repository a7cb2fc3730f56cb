"""Filing verbs: a linking plan applied to its receipt, past mail re-filed on today's directory, repairs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from store.apply import put_attachments, put_inline_blobs, sanitize_plan_html, validate_plan, write_plan
from store.blobs import BlobStore
from store.database import Database
from store.refile import list_shared_messages, refile_message, rekey_message
from store.relink import BATCH, Progress, count_relink, relink
from store.repair import RepairResult, repair_addresses, repair_names
from store.shapes import ApplyResult, PlanWrite, RelinkResult, RelinkScope
from store.webhooks import Outbox, add_deliveries


class Filing:
    """Writes what the linker decided, and re-files what is already filed."""

    def __init__(self, database: Database, blobs: BlobStore, *, inline_max: int) -> None:
        self._db = database
        self._blobs = blobs
        self.inline_max = inline_max

    def apply_plan(self, inbound_id: str, plan: PlanWrite, *, outbox: Outbox | None = None) -> ApplyResult:
        """File a ``queued`` receipt as the plan says, in one transaction; ``applied=False`` if it was not queued.
        ``outbox(result)``: webhook deliveries to write in that transaction, when it applied."""
        validate_plan(plan)
        inline = put_attachments(self._blobs, plan, inline_max=self.inline_max)
        safe_html = sanitize_plan_html(plan)

        def apply(session: Session) -> ApplyResult:
            result = write_plan(session, inbound_id, plan, safe_html)
            # Last, and only by the receipt that wrote the attachment rows: two workers filing the same email
            # must meet first on the message's own insert, where one wins (a shared blob key would queue them).
            if result.message_created:
                put_inline_blobs(session.connection(), inline)
            if result.applied and outbox is not None:
                add_deliveries(session, outbox(result))
            return result

        return self._db.run_redoable(apply)

    def relink(
        self,
        scope: RelinkScope | None = None,
        *,
        free_mail_domains: Iterable[str],
        batch: int = BATCH,
        progress: Progress | None = None,
    ) -> RelinkResult:
        """File past mail on what today's directory says (``store.relink``): codes that now name a record, leads
        that became contacts, participants that now match a contact or client. ``scope``: only what an import
        changed; ``None``: everything. ``batch`` rows per transaction; ``progress`` is told each batch's rows."""
        return relink(self._db.run, scope, free_mail_domains=free_mail_domains, batch=batch, progress=progress)

    def count_relink(self, scope: RelinkScope | None = None) -> int:
        """The rows ``relink(scope)`` will examine: the length of its progress bar."""
        return count_relink(self._db.run, scope)

    def list_shared_messages(self, *, limit: int = 1_000_000) -> dict[int, list[str]]:
        """Emails filed from more than one receipt, with their receipt ids (``store.refile``)."""
        return self._db.run(lambda session: list_shared_messages(session, limit=limit))

    def refile_message(self, message_id: int) -> list[str]:
        """Delete an email that merged different emails and queue its receipts again; their ids."""
        return self._db.run(lambda session: refile_message(session, message_id))

    def rekey_message(self, message_id: int, dedupe_key: str, content_key: str | None) -> bool:
        """Give an email today's dedupe and content keys; False when another email has that dedupe key."""
        return self._db.run(lambda session: rekey_message(session, message_id, dedupe_key, content_key))

    def repair_names(self, decode: Callable[[str], str]) -> int:
        """Decode RFC 2047 words still in stored names and subjects (``store.repair``); how many values changed."""
        return self._db.run(lambda session: repair_names(session, decode))

    def repair_addresses(self, address: Callable[[str], str], domain: Callable[[str], str]) -> RepairResult:
        """Put stored addresses and domains that are not ASCII in their matching form (``store.repair``)."""
        dialect = self._db.dialect
        return self._db.run(lambda session: repair_addresses(session, address, domain, dialect=dialect))
