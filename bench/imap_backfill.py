"""IMAP back-fill (issue 18.1): msg/s of a mailbox poller taking a mailbox's history, against ``mailassist ingest``
taking the same messages from an mbox file, side by side.

N realistic messages (``_common.make_mail``: BCC copies, inline and attached forwards, 4-64 KiB, some HTML and
attachments) are written into a throwaway Dovecot's maildir (``tests/mailassist/dovecot.py``: its own config, free
port, plain IMAP on 127.0.0.1) and into an mbox file. Then, each into a fresh SQLite store with the same directory:

- **imap**: one ``Poller.poll()`` of the personal mailbox (``mailassist.imap``): login, SELECT, SEARCH, sizes,
  ``FETCH BODY.PEEK[]`` in batches of up to 100 messages, each batch committed through the intake in one group
  commit (``Ingestor.ingest_many``), then its last UID recorded. Dovecot has indexed the maildir before the clock
  starts (a mailbox being back-filled is one that already exists on its server).
- **file**: what ``mailassist ingest FILE.mbox --as USER`` does (``mailassist.backfill`` reading the mbox, the same
  ``Ingestor``), in process.

Printed: msg/s of each and the ratio imap/file, and the load average before and after (the machine may be shared).
Both check each message as SMTP would (``check_email`` parses it: about half of the cost) and commit durably
(SQLite ``synchronous=FULL``: an fsync per commit): one commit per message for ``file``, one per batch for ``imap``.

Sanity (exit 1 otherwise): every message is a new receipt in both stores, the same messages in each (line ends
aside: IMAP hands out CRLF, an mbox holds LF), with source ``imap:bench`` and proof ``imap:personal``, and
``file``; a second poll takes nothing. ``--quick`` (CI) uses 60 messages and also files each IMAP receipt through
the linker (every one must end ``linked``).

Usage: ``python bench/imap_backfill.py [--quick] [--count N] [--seed S]``. Needs ``dovecot`` (Debian:
``apt-get install dovecot-imapd``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CODES, ORG_DOMAIN, SanityError, check, machine
from _mail import Directory, make_directory, make_mail

from gateway.ingest import FILE, Ingested, Ingestor, Voucher
from mailassist import backfill
from mailassist.build import make_processor
from mailassist.config import Config, parse_config
from mailassist.imap import PROOF_PERSONAL, Poller, mailbox_of
from mailassist.logs import configure_logging
from store import InboundView, Store
from store.shapes import ClientRow, ContactRow, RecordRow, UserRow
from tests.mailassist.dovecot import Dovecot, dovecot_binary

LOGIN, PASSWORD = "bench", "bench-imap-password"


@dataclass
class Run:
    path: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else float("inf")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _config(work: Path, port: int, user: str) -> Config:
    return parse_config(
        {
            "assistant": {"addresses": ["assistant@crm.example.com"]},
            "organization": {"domains": [ORG_DOMAIN]},
            "codes": dict(CODES),
            "sources": {
                "imap": [
                    {
                        "name": "bench",
                        "host": "127.0.0.1",
                        "port": port,
                        "tls": "none",
                        "login": LOGIN,
                        "password": PASSWORD,
                        "user": user,
                        "idle": False,
                    }
                ]
            },
        },
        base_dir=work,
    )


def _store(path: Path, directory: Directory) -> Store:
    """A fresh SQLite store holding the directory (users, clients, contacts, deals)."""
    store = Store(f"sqlite:///{path / 'm.db'}", path / "blobs")
    store.open(upgrade=True)
    store.directory.apply_users(
        [UserRow(i + 2, u.address, u.name, "Sales", "team") for i, u in enumerate(directory.users)]
    )
    store.directory.apply_clients([ClientRow(i + 2, n, (d,), (e,)) for i, (n, d, e) in enumerate(directory.clients)])
    store.directory.apply_contacts(
        [
            ContactRow(i + 2, p.name, (p.address,), directory.clients[c][0])
            for i, (p, c) in enumerate(directory.contacts)
        ]
    )
    store.directory.apply_records(
        [
            RecordRow(i + 2, code, "deal", f"Deal {code}", directory.clients[c][0])
            for i, (code, c) in enumerate(directory.records)
        ]
    )
    return store


def _ingestor(store: Store) -> Ingestor:
    return Ingestor(store, enqueue=lambda _ids: None, max_size=25 * 1024 * 1024)


def write_mbox(path: Path, raws: list[bytes]) -> None:
    """An mbox as a mail client exports one: a ``From `` line before each message, LF line ends, body lines
    starting with ``From `` escaped (the stdlib's ``mailbox`` would re-generate each message, changing its bytes)."""
    with path.open("wb") as f:
        for raw in raws:
            body = raw.replace(b"\r\n", b"\n")
            body = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in body.split(b"\n"))
            f.write(b"From bench@example.com Mon Nov  2 08:00:00 2026\n" + body.rstrip(b"\n") + b"\n\n")


def _contents(store: Store, receipts: list[InboundView]) -> set[str]:
    """The SHA-256 of each receipt's message with LF line ends and no trailing ones: IMAP hands out CRLF, an mbox
    holds LF."""
    return {
        hashlib.sha256(store.content.get_blob(r.sha256).replace(b"\r\n", b"\n").rstrip(b"\n")).hexdigest()
        for r in receipts
    }


def run_imap(work: Path, config: Config, directory: Directory, *, file_them: bool) -> tuple[Run, set[str]]:
    store = _store(work / "imap", directory)
    ingestor = _ingestor(store)
    poller = Poller(store, mailbox_of(config, config.sources.imap[0]), ingestor)
    try:
        started = time.perf_counter()
        tally = poller.poll()
        seconds = time.perf_counter() - started
        receipts = store.receipts.list_inbound(limit=1_000_000)
        check(tally.refused == 0 and tally.duplicates == 0, f"imap: refused {tally.refused}, dupes {tally.duplicates}")
        check({(r.source, r.proof) for r in receipts} == {("imap:bench", PROOF_PERSONAL)}, "imap: source and proof")
        check(poller.poll().seen == 0, "imap: a second poll took messages again")
        if file_them:
            processor = make_processor(config, store)
            for r in receipts:
                processor.process_now(r.id)
            statuses = {r.status for r in store.receipts.list_inbound(limit=1_000_000)}
            check(statuses == {"linked"}, f"imap: not every receipt filed: {statuses}")
        return Run("imap", tally.new, seconds), _contents(store, receipts)
    finally:
        poller.close()
        ingestor.close()
        store.close()


def run_file(work: Path, mbox: Path, directory: Directory, user: str) -> tuple[Run, set[str]]:
    store = _store(work / "file", directory)
    ingestor = _ingestor(store)
    try:
        voucher = Voucher(user, FILE, f"vouched for by the operator (mailassist ingest --as {user})")
        taken = 0
        started = time.perf_counter()
        for item in backfill.items([mbox]):
            check(item.raw is not None, f"file: {item.label}: {item.error}")
            assert item.raw is not None
            outcome = ingestor.ingest(item.raw, source=FILE, voucher=voucher, mail_from=item.mail_from)
            check(isinstance(outcome, Ingested) and not outcome.duplicate, f"file: {item.label}: {outcome}")
            taken += 1
        seconds = time.perf_counter() - started
        receipts = store.receipts.list_inbound(limit=1_000_000)
        return Run("file", taken, seconds), _contents(store, receipts)
    finally:
        ingestor.close()
        store.close()


def parse_args() -> argparse.Namespace:
    """The command line, with ``count`` filled in from ``--quick`` when not given."""
    options = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    options.add_argument("--quick", action="store_true", help="60 messages, filed through the linker too")
    options.add_argument("--count", type=int, help="messages (default 2000, quick 60)")
    options.add_argument("--seed", type=int, default=7)
    args = options.parse_args()
    args.count = args.count or (60 if args.quick else 2000)
    return args


def main() -> int:
    args = parse_args()
    configure_logging("warning")  # not a line per message taken
    count = args.count
    binary = dovecot_binary()
    if binary is None:
        print("imap_backfill: dovecot is not installed (Debian: apt-get install dovecot-imapd)", file=sys.stderr)
        return 1

    directory = make_directory()
    raws = [m.raw for m in make_mail(directory, count, seed=args.seed)]
    print(f"machine: {machine()}")
    print(
        f"messages: {count}, {sum(map(len, raws)) / count / 1024:.1f} KiB on average; SQLite stores (synchronous=FULL)"
    )
    print(f"load average before: {_load()}")
    try:
        imap, file = compare(binary, directory, raws, quick=args.quick)
    except SanityError as exc:
        print(f"imap_backfill: sanity check failed: {exc}", file=sys.stderr)
        return 1
    report(imap, file, quick=args.quick)
    return 0


def compare(binary: str, directory: Directory, raws: list[bytes], *, quick: bool) -> tuple[Run, Run]:
    """The same messages taken from a throwaway Dovecot, then from an mbox, each into a fresh store; checks that
    both paths took every message and stored the same ones."""
    count = len(raws)
    user = directory.users[0].address
    work = Path(tempfile.mkdtemp(prefix="mailassist-bench-imap-"))
    server = Dovecot(binary)
    try:
        server.add_user(LOGIN, PASSWORD)
        server.start()
        # Into the maildir as a delivery agent writes it, then indexed by Dovecot before the clock starts.
        server.put_maildir(LOGIN, raws)
        check(server.count(LOGIN) == count, f"dovecot holds {server.count(LOGIN)} messages, not {count}")
        mbox_path = work / "export.mbox"
        write_mbox(mbox_path, raws)

        config = _config(work, server.port, user)
        imap, imap_hashes = run_imap(work, config, directory, file_them=quick)
        file, file_hashes = run_file(work, mbox_path, directory, user)
        check(imap.messages == count, f"imap took {imap.messages} of {count}")
        check(file.messages == count, f"file took {file.messages} of {count}")
        check(
            imap_hashes == file_hashes and len(imap_hashes) == count,
            f"the two paths stored different messages: {len(imap_hashes - file_hashes)} differ",
        )
        return imap, file
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


def report(imap: Run, file: Run, *, quick: bool) -> None:
    """Both runs side by side, and the headline."""
    print(f"load average after: {_load()}\n")
    print(f"{'path':<6}  {'messages':>8}  {'seconds':>8}  {'msg/s':>8}")
    for run in (imap, file):
        print(f"{run.path:<6}  {run.messages:>8}  {run.seconds:>8.2f}  {run.rate:>8.1f}")
    print(f"\nheadline: IMAP back-fill {imap.rate:.0f} msg/s, mailassist ingest (mbox) {file.rate:.0f} msg/s, "
          f"ratio imap/file {imap.rate / file.rate:.2f}x")  # fmt: skip
    if quick:
        print("quick: every message taken by both paths, the same messages, and every IMAP receipt linked")


if __name__ == "__main__":
    sys.exit(main())
