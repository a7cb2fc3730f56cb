"""IMAP mailbox sources (``[[sources.imap]]``): a poller per mailbox takes its new mail into the intake.

Each message goes through the same durable intake as ``mailassist ingest`` (``gateway.ingest.Ingestor``): blob
fsync'd, receipt committed with its submitter and proof, source ``imap:NAME``, the worker woken. Only then is its
UID recorded (``store.sources``), so a poller killed in between fetches the message again and the intake's dedupe
(the same bytes from the same submitter) absorbs the copy. A folder whose UIDVALIDITY changed is taken again from
the start (or from ``fetch_since``), dedupe absorbing the repeats.

Whose mail it is:

- a **personal** mailbox (``user = ADDRESS``): the user's own submissions, proof ``imap:personal``, as if they had
  BCC'd each message to the assistant;
- a **group** mailbox (``team = TEAM``, ``submitter = ADDRESS``): a shared box such as support@. A receipt's
  submitter is always a registered user (the linker files mail *for* a user, and a team viewer sees the mail its
  members submitted), so a group mailbox names the member its mail is filed for, who must belong to the team:
  the receipt says ``submitter = ADDRESS``, proof ``imap:group``, and the team in its detail. Everyone who sees
  that team's mail sees it.

The mailbox is never changed unless ``mark_seen`` or ``move_to`` says so: folders are opened read-only (EXAMINE)
and bodies read with ``BODY.PEEK[]``; nothing is ever deleted. Credentials are never logged, never put in an
error, and not shown by any ``repr``. A poll that fails (server down, login refused, a store error) is recorded
on the source (``mailassist sources``) and retried after an exponential back-off with a cap; other sources go on.

Two pollers never poll one mailbox: each takes the source's lease in the store before it polls, renews it while
it works or waits, and every progress it records is conditional on holding it.

This module is the poller's schedule (poll, wait or IDLE, back off, the lease); what one poll of a folder does
(search, sizes, batches, the group commit, the recorded UID) is ``mailassist.imap_folder``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog

from gateway.ingest import Ingestor, Voucher
from mailassist.imap_folder import FolderSync, PollStore, PollTally
from mailassist.imap_mailbox import (
    Client,
    LeaseLostError,
    Mailbox,
    SourceError,
    close_quietly,
    connect,
    describe,
    mailbox_of,
    mailboxes,
    new_owner,
    scrub,
)
from store import StoreError
from store.models import utcnow

#: Names callers import from here (most defined in ``mailassist.imap_mailbox`` and ``mailassist.imap_folder``).
__all__ = ["PROOF_GROUP", "PROOF_PERSONAL", "LeaseLostError", "Mailbox", "PollTally", "Poller", "Pollers",
           "SourceError", "connect", "mailbox_of", "mailboxes"]  # fmt: skip

log = structlog.get_logger("mailassist.imap")

#: imapclient logs every command and answer at DEBUG (message bodies included): never ours to print.
logging.getLogger("imapclient").setLevel(logging.WARNING)

#: The receipts' proof: a personal mailbox's user, or the member a group mailbox's mail is filed for.
PROOF_PERSONAL = "imap:personal"
PROOF_GROUP = "imap:group"
#: Seconds a poller holds its source's lease; it renews it every third of that while it works or waits.
LEASE_SECONDS = 120.0
#: RFC 2177: a client re-issues IDLE at least every 29 minutes; we do it every 25.
IDLE_MAX = 25 * 60.0
#: Seconds between looks at the stop flag (and the lease) while waiting or in IDLE.
WAIT_SLICE = 1.0
#: Untagged answers in IDLE that mean the folder changed: a poll follows.
_IDLE_WAKE = frozenset({b"EXISTS", b"RECENT"})


# --- the IMAP connection -------------------------------------------------------------------------------------------


#: Opens a logged-in connection to a mailbox, or raises ``SourceError``.
Connect = Callable[[Mailbox], Client]


# --- one poller ----------------------------------------------------------------------------------------------------


class Poller:
    """Polls one mailbox: ``poll()`` once (tests, the bench), or ``run(stop)`` on a thread until ``stop`` is set:
    poll, wait (IDLE on the first folder where the server offers it, else sleep) ``poll_interval``, again; after a
    failure, back off."""

    def __init__(
        self,
        store: PollStore,
        mailbox: Mailbox,
        ingestor: Ingestor,
        *,
        owner: str | None = None,
        connect: Connect = connect,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.mailbox = mailbox
        self.ingestor = ingestor
        self.owner = owner or new_owner()
        self.connect = connect
        self.lease = lease
        self.client: Client | None = None
        self.failures = 0
        self._renewed = 0.0
        self.log = log.bind(source=mailbox.name)
        self.folder_sync = FolderSync(store, mailbox, ingestor, self.owner, self._renew_if_due, self.log)

    # -- the lease

    def claim(self) -> bool:
        """Take or renew the source's lease."""
        taken = self.store.sources.claim_source(self.mailbox.name, self.owner, lease=self.lease)
        if taken:
            self._renewed = time.monotonic()
        return taken

    def _renew_if_due(self) -> None:
        if time.monotonic() - self._renewed >= self.lease / 3 and not self.claim():
            raise LeaseLostError(f"another poller took source {self.mailbox.name!r}")

    # -- whose mail it is

    def voucher(self) -> Voucher:
        """Who submitted this mailbox's mail, read from the directory now (``SourceError`` if no longer valid)."""
        m = self.mailbox
        if m.user is not None:
            user = self.ingestor.submitter(m.user)
            if user is None:
                raise SourceError(f"user {m.user} is not a registered user ('mailassist import users' first)")
            return Voucher(user, PROOF_PERSONAL, f"personal IMAP mailbox {m.name!r} ({m.where}) of {user}")
        assert m.team is not None and m.submitter is not None
        found = self.ingestor.store.directory.find_users_by_addresses([m.submitter.lower()]).get(m.submitter.lower())
        if found is None:
            raise SourceError(f"submitter {m.submitter} is not a registered user ('mailassist import users' first)")
        team = getattr(found, "team", None)
        if team is None or str(team).casefold() != m.team.casefold():
            raise SourceError(
                f"submitter {m.submitter} is not a member of team {m.team!r} (their team: {team or 'none'})"
            )
        email = str(getattr(found, "email", m.submitter))
        return Voucher(email, PROOF_GROUP, f"group IMAP mailbox {m.name!r} ({m.where}) of team {team!r}, for {email}")

    # -- polling

    def _connected(self) -> Client:
        """The open connection, checked with NOOP (a server may have closed it while we waited), or a new one."""
        if self.client is not None:
            try:
                self.client.noop()
                return self.client
            except Exception:
                self.drop()
        self.client = self.connect(self.mailbox)
        return self.client

    def drop(self) -> None:
        """Close the connection (after an error, or on stop)."""
        client, self.client = self.client, None
        close_quietly(client)

    def poll(self) -> PollTally:
        """One poll of every folder, under the lease (taken here when not held). Raises ``SourceError`` (the
        server, the login, the directory), ``LeaseLostError`` or ``StoreError``; what was committed stays."""
        if not self.claim():
            raise LeaseLostError(f"another poller holds source {self.mailbox.name!r}")
        self.store.sources.record_source_poll(self.mailbox.name, self.owner, state="polling")
        voucher = self.voucher()
        client = self._connected()
        tally = PollTally()
        for folder in self.mailbox.folders:
            self.folder_sync.sync(client, folder, voucher, tally)
        return tally

    # -- the loop

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; on the way out, close the connection and give the lease up."""
        try:
            while not stop.is_set():
                self._cycle(stop)
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection and give the lease up (the source is ``stopped`` until a poller takes it)."""
        self.drop()
        try:
            self.store.sources.release_source(self.mailbox.name, self.owner)
        except Exception as exc:  # the store is down: the lease runs out by itself
            self.log.warning("cannot release the IMAP source's lease", error=describe(exc))

    def _cycle(self, stop: threading.Event) -> None:
        """One poll and the wait after it; a failure is recorded and backed off from, never raised."""
        m = self.mailbox
        try:
            tally = self.poll()
        except LeaseLostError as exc:
            # Another poller has it: look again in a while (it may stop, or die and let its lease run out).
            self.drop()
            self.log.debug("IMAP source held by another poller", reason=str(exc))
            stop.wait(self.lease / 3)
            return
        except Exception as exc:
            self.drop()
            self.failures += 1
            delay = m.backoff(self.failures)
            error = self._error_text(exc)
            self.log.warning(
                "IMAP poll failed; will retry", error=error, retry_in=round(delay, 1), failures=self.failures
            )
            self._record(state="backoff", error=error, next_poll_at=utcnow() + timedelta(seconds=delay), finished=True)
            self._quietly_wait(stop, delay, idle=False)
            return
        self.failures = 0
        if tally.seen:
            self.log.info("IMAP poll took mail", new=tally.new, duplicates=tally.duplicates, refused=tally.refused)
        self._record(state="waiting", next_poll_at=utcnow() + timedelta(seconds=m.poll_interval), finished=True)
        self._quietly_wait(stop, m.poll_interval, idle=m.idle)

    def _quietly_wait(self, stop: threading.Event, seconds: float, *, idle: bool) -> None:
        """``_wait``; whatever ends it early (the connection died in IDLE, the lease or the store is lost) is for
        the next poll to find out."""
        try:
            self._wait(stop, seconds, idle=idle)
        except Exception as exc:
            self.log.info("IMAP wait ended early", error=describe(exc))
            self.drop()

    def _error_text(self, exc: BaseException) -> str:
        if isinstance(exc, SourceError):
            text = str(exc)
        elif isinstance(exc, StoreError):
            text = f"store: {exc}"
        else:
            text = f"{type(exc).__name__}: {describe(exc)}"
        return scrub(text, self.mailbox.password)

    def _record(self, **values: Any) -> None:
        try:
            self.store.sources.record_source_poll(self.mailbox.name, self.owner, **values)
        except Exception as exc:  # the store is down: the next poll says so
            self.log.warning("cannot record the IMAP source's state", error=describe(exc))

    def _wait(self, stop: threading.Event, seconds: float, *, idle: bool) -> None:
        """Wait ``seconds`` (renewing the lease), or less: until ``stop``, or (``idle``, on the first folder)
        until the server says new mail arrived."""
        deadline = time.monotonic() + seconds
        client = self.client
        if idle and client is not None and b"IDLE" in client.capabilities():
            self._idle(client, stop, deadline)
            return
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, WAIT_SLICE, self.lease / 3))
            self._renew_if_due()

    def _idle(self, client: Client, stop: threading.Event, deadline: float) -> None:
        client.select_folder(self.mailbox.folders[0], readonly=True)
        client.idle()
        started = time.monotonic()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= deadline or now - started >= IDLE_MAX:
                    return
                answers = client.idle_check(timeout=min(WAIT_SLICE, deadline - now))
                if any(isinstance(a, tuple) and len(a) > 1 and a[1] in _IDLE_WAKE for a in answers):
                    self.log.debug("IMAP IDLE: new mail", folder=self.mailbox.folders[0])
                    return
                self._renew_if_due()
        finally:
            client.idle_done()


# --- every poller of a process -------------------------------------------------------------------------------------


class Pollers:
    """One thread per mailbox, each running its ``Poller`` until ``stop``."""

    def __init__(
        self,
        store: PollStore,
        mailboxes: Sequence[Mailbox],
        make_ingestor: Callable[[], Ingestor],
        *,
        connect: Connect = connect,
        lease: float = LEASE_SECONDS,
    ) -> None:
        owner = new_owner()
        self.pollers = [
            Poller(store, m, make_ingestor(), owner=f"{owner}:{m.name}"[:200], connect=connect, lease=lease)
            for m in mailboxes
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start a thread per mailbox."""
        for poller in self.pollers:
            thread = threading.Thread(target=self._run, args=(poller,), name=f"imap-{poller.mailbox.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, poller: Poller) -> None:
        try:
            poller.run(self._stop)
        except Exception as exc:  # a bug: say so, never take the process down
            poller.log.error(
                "IMAP poller stopped", error=scrub(f"{type(exc).__name__}: {exc}", poller.mailbox.password)
            )
        finally:
            poller.ingestor.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every poller: each finishes the message it holds, closes its connection and gives its lease up."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
