"""One mailbox's folders taken into the intake (``FolderSync``): SELECT, SEARCH the UIDs after the last recorded one,
ask their sizes, FETCH them in bounded batches, commit each batch to the intake in one group commit, then record its
last UID. The poller (``mailassist.imap``) owns the connection, the lease and the schedule; this module owns what one
poll of a folder does, and records each batch's progress only while the poller still holds the lease."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from imapclient.exceptions import IMAPClientError

from gateway.ingest import Ingested, Ingestor, Voucher
from mailassist.imap_mailbox import Client, LeaseLostError, Mailbox, SourceError, describe
from store.sources import Sources

#: Messages fetched in one FETCH, and at most this many bytes of them (sizes are asked first).
FETCH_BATCH = 100
FETCH_BYTES = 32 * 1024 * 1024
#: UIDs whose sizes are asked in one FETCH.
SIZE_BATCH = 1000


class PollStore(Protocol):
    """What a poller needs of the store: its mailbox sources' verbs (``store.sources``)."""

    @property
    def sources(self) -> Sources: ...


@dataclass(slots=True)
class PollTally:
    """What one poll took: new receipts, duplicates (taken before), refused (not an email, too big)."""

    new: int = 0
    duplicates: int = 0
    refused: int = 0
    resets: list[str] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.new + self.duplicates + self.refused


@dataclass(slots=True)
class FolderSync:
    """Takes the new mail of one mailbox's folders, for ``owner`` (the poller holding the source's lease).
    ``renew`` is called before each batch: it renews the lease when due, or raises ``LeaseLostError``."""

    store: PollStore
    mailbox: Mailbox
    ingestor: Ingestor
    owner: str
    renew: Callable[[], None]
    log: structlog.stdlib.BoundLogger

    def sync(self, client: Client, folder: str, voucher: Voucher, tally: PollTally) -> None:
        """Take ``folder``'s messages after its last recorded UID (all of them again after a UIDVALIDITY change),
        batch by batch, each batch's last UID recorded once the batch is committed."""
        m = self.mailbox
        uidvalidity = self._select(client, folder)
        state = self.store.sources.start_folder(m.name, folder, uidvalidity, self.owner)
        if state is None:
            raise LeaseLostError(f"another poller took source {m.name!r}")
        if state.reset and state.resets:
            tally.resets.append(folder)
            self.log.warning(
                "IMAP folder's UIDVALIDITY changed: taking it again from the start (duplicates are absorbed)",
                folder=folder,
                uidvalidity=uidvalidity,
            )
        uids = self._new_uids(client, state.last_uid)
        if not uids:
            return
        self.log.info("IMAP folder has new messages", folder=folder, count=len(uids), after_uid=state.last_uid)
        for batch, too_big in self._batches(client, uids):
            self.renew()
            taken = self._take(client, folder, batch, too_big=too_big, voucher=voucher, tally=tally)
            if not self.store.sources.record_folder_progress(
                m.name, folder, self.owner, uidvalidity=uidvalidity, last_uid=batch[-1], taken=taken
            ):
                raise LeaseLostError(f"another poller took source {m.name!r}, or folder {folder!r} was reset")

    def _select(self, client: Client, folder: str) -> int:
        """Open ``folder`` (read-only unless the mailbox changes it); its UIDVALIDITY."""
        try:
            info = client.select_folder(folder, readonly=self.mailbox.readonly)
        except IMAPClientError as exc:
            raise SourceError(f"cannot open folder {folder!r}: {describe(exc)}") from None
        uidvalidity = int(info.get(b"UIDVALIDITY", 0))
        if not uidvalidity:
            raise SourceError(f"folder {folder!r}: the server gave no UIDVALIDITY")
        return uidvalidity

    def _new_uids(self, client: Client, last_uid: int) -> list[int]:
        """The open folder's UIDs after ``last_uid`` (and received since ``fetch_since``), ascending."""
        criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
        if self.mailbox.fetch_since is not None:
            criteria += ["SINCE", self.mailbox.fetch_since]
        # "n:*" always matches the last message, even below n: keep only the new UIDs.
        return sorted(u for u in client.search(criteria) if u > last_uid)

    def _batches(self, client: Client, uids: Sequence[int]) -> Iterator[tuple[list[int], set[int]]]:
        """``uids`` in batches of at most ``FETCH_BATCH`` messages and ``FETCH_BYTES`` bytes, with the UIDs of
        messages too big to take (never fetched)."""
        limit = self.ingestor.max_size
        for start in range(0, len(uids), SIZE_BATCH):
            chunk = list(uids[start : start + SIZE_BATCH])
            sizes = {
                uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in client.fetch(chunk, ["RFC822.SIZE"]).items()
            }
            batch: list[int] = []
            too_big: set[int] = set()
            total = 0
            for uid in chunk:
                size = sizes.get(uid, 0)
                if batch and (len(batch) >= FETCH_BATCH or total + size > FETCH_BYTES):
                    yield batch, too_big
                    batch, too_big, total = [], set(), 0
                batch.append(uid)
                if size > limit:
                    too_big.add(uid)
                else:
                    total += size
            if batch:
                yield batch, too_big

    def _take(
        self, client: Client, folder: str, batch: list[int], *, too_big: set[int], voucher: Voucher, tally: PollTally
    ) -> int:
        """Commit the messages of ``batch`` to the intake in one group commit (one transaction); how many were new
        receipts. A message gone meanwhile (expunged) is skipped. ``StoreError`` propagates: the batch's UIDs are
        not recorded, so it is fetched again (and what did commit is then a duplicate)."""
        m = self.mailbox
        wanted = [uid for uid in batch if uid not in too_big]
        fetched = client.fetch(wanted, ["BODY.PEEK[]"]) if wanted else {}
        for uid in sorted(too_big):
            tally.refused += 1
            self.log.warning("IMAP message too big; not taken", folder=folder, uid=uid, max_size=self.ingestor.max_size)
        done = [uid for uid in wanted if fetched.get(uid, {}).get(b"BODY[]") is not None]  # else expunged since
        raws = [bytes(fetched[uid][b"BODY[]"]) for uid in done]
        outcomes = self.ingestor.ingest_many(raws, source=m.source, voucher=voucher) if raws else []
        new = 0
        for uid, outcome in zip(done, outcomes, strict=True):
            if isinstance(outcome, Ingested):
                if outcome.duplicate:
                    tally.duplicates += 1
                else:
                    tally.new += 1
                    new += 1
            else:
                tally.refused += 1
                self.log.warning("IMAP message not taken", folder=folder, uid=uid, reply=outcome.reply)
        if done and not m.readonly:
            self._after_taking(client, done)
        return new

    def _after_taking(self, client: Client, uids: list[int]) -> None:
        """``mark_seen`` and ``move_to``, once the messages are committed (before their UIDs are recorded: a crash
        in between finds them flagged or moved, and dedupe absorbs whatever is fetched again)."""
        m = self.mailbox
        try:
            if m.mark_seen:
                client.add_flags(uids, [b"\\Seen"], silent=True)
            if m.move_to:
                if b"MOVE" not in client.capabilities():
                    raise SourceError(f"move_to {m.move_to!r}: the server has no MOVE (RFC 6851)")
                client.move(uids, m.move_to)
        except IMAPClientError as exc:
            raise SourceError(f"cannot {'move' if m.move_to else 'flag'} taken messages: {describe(exc)}") from None
