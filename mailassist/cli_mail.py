"""``mailassist import``, ``ingest``, ``explain`` and ``reprocess``: the directory and past mail in, and a message
read, explained or filed again."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import click

from mailassist import importer
from mailassist.cli_base import PROGRESS_ROWS, State, fail, progress_stream, store_of, with_state
from store import Store
from store.errors import ImportConflictError
from store.shapes import ImportResult, RelinkScope


@click.command("import")
@click.argument("kind", type=click.Choice(list(importer.KINDS)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row, against the database too, and write nothing.")
@with_state
def import_cmd(state: State, kind: str, file: Path, dry_run: bool) -> None:
    """Create or update users, clients, contacts or records from a UTF-8 CSV FILE: every row, or none.

    \b
    users     email,name,team,role,aliases   role: all, team or own
              [,time_zone]                   optional: an IANA zone such as Europe/Warsaw
    clients   name,domains,emails
    contacts  name,emails,client             client: a client's name, or empty
    records   code,type,title,client         code: PREFIX-DIGITS, such as OP-123

    Lists are separated by ';'. Rows update what they match (users by email, clients by name, contacts by any of
    their addresses, records by code) and lists become what the row says; an empty cell clears. A users file
    without the time_zone column leaves every user's zone as it is. Import clients before contacts and records.
    """
    spec = importer.KINDS[kind]
    source = click.format_filename(file)
    progress = progress_stream()
    parsed, hidden = _check_file(file, spec, state.config.code_types, progress)
    problems = list(parsed.problems)
    result: ImportResult | None = None
    if not problems or parsed.rows:
        if not hidden:
            click.echo(f"Applying {len(parsed.rows)} rows…", file=progress)
        with store_of(state) as store:
            try:
                result = spec.apply(store, parsed.rows, dry_run or bool(problems))
            except ImportConflictError as exc:
                problems += exc.problems
    if problems:
        for line in importer.format_problems(source, problems):
            click.echo(line, err=True)
        fail(f"{source}: {importer.plural(len(problems), 'problem')}; nothing was imported")
    assert result is not None
    click.echo(importer.summary(source, parsed.count, result, dry_run=dry_run))
    scope = importer.relink_scope(parsed.rows)
    if dry_run or not scope:
        return
    with store_of(state) as store:
        _relink(state, store, scope)


def _check_file(
    file: Path, spec: importer.Kind[Any], codes: Mapping[str, str], progress: TextIO | None
) -> tuple[importer.Parsed[Any], bool]:
    """Read and check every row of ``file`` (a progress bar on ``progress`` for a long one); what was parsed, and
    whether the bar was hidden. A file that cannot be read is one problem and no rows."""
    hidden = True
    try:
        text = importer.read_text(file)
        lines = importer.count_lines(text)
        hidden = progress is None or lines <= PROGRESS_ROWS + 1
        steps = max(1, lines // 200)
        label = f"Checking {click.format_filename(file)}"
        with click.progressbar(
            length=lines, label=label, file=progress or sys.stderr, hidden=hidden, update_min_steps=steps
        ) as bar:
            return importer.parse(text, spec, codes=codes, on_lines=bar.update), hidden
    except importer.FileError as exc:
        return importer.Parsed(problems=exc.problems), hidden


def _relink(state: State, store: Store, scope: RelinkScope | None) -> None:
    """Re-file past mail on today's directory (``scope``: what an import changed), with a progress bar."""
    from mailassist.build import linker_settings  # noqa: PLC0415

    progress = progress_stream()
    total = store.filing.count_relink(scope)
    hidden = progress is None or total <= PROGRESS_ROWS
    free_mail = linker_settings(state.config).free_mail_domains
    with click.progressbar(length=total, label="Relinking", file=progress or sys.stderr, hidden=hidden) as bar:
        result = store.filing.relink(scope, free_mail_domains=free_mail, progress=bar.update)
    click.echo(importer.relink_summary(result))


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILE.eml|DIR|FILE.mbox…")
@click.option(
    "--as",
    "as_user",
    required=True,
    metavar="USER",
    help="The user whose mail this is: you vouch for it (recorded as proof 'file').",
)
@with_state
def ingest(state: State, paths: tuple[Path, ...], as_user: str) -> None:
    """Back-fill history from an export: .eml files, directories of them (Maildir too) and mbox files, each
    message taken by the same intake as SMTP (source 'file') and filed by the worker.

    A message this user already handed in (the same bytes, by any route) is counted a duplicate and not taken
    again. A file that cannot be read or is not an email gets one line on stderr and the run goes on; the exit
    status is 1 if any did."""
    from gateway.ingest import FILE, Ingested, Voucher  # noqa: PLC0415
    from mailassist import backfill  # noqa: PLC0415
    from mailassist.build import make_ingestor  # noqa: PLC0415
    from mailassist.queue import Queue  # noqa: PLC0415

    files = [f for p in paths for f in backfill.files_of(p)]
    tally = backfill.Tally()
    with store_of(state) as store:
        queue = Queue(state.config, store)
        # With the in-memory broker no worker listens here: the running 'mailassist serve' sweeps queued receipts.
        enqueue = (lambda _ids: None) if queue.in_memory else queue.send_all
        ingestor = make_ingestor(state.config, store, enqueue)
        try:
            user = ingestor.submitter(as_user)
            if user is None:
                fail(f"ingest --as {as_user}: not a registered user ('mailassist import users' first)")
            assert user is not None
            voucher = Voucher(user, FILE, f"vouched for by the operator (mailassist ingest --as {as_user})")
            progress = progress_stream()
            total = backfill.count(files)
            with click.progressbar(
                length=total, label="Ingesting", file=progress or sys.stderr, hidden=progress is None
            ) as bar:
                for item in backfill.items(files):
                    bar.update(1)
                    if item.raw is None:
                        tally.unreadable += 1
                        click.echo(f"mailassist: ingest {item.label}: {item.error}", err=True)
                        continue
                    outcome = ingestor.ingest(item.raw, source=FILE, voucher=voucher, mail_from=item.mail_from)
                    tally.add(outcome)
                    if not isinstance(outcome, Ingested):
                        click.echo(f"mailassist: ingest {item.label}: {outcome.reply}", err=True)
        finally:
            ingestor.close()
            queue.broker.close()
    click.echo(tally.summary())
    if tally.failed:
        sys.exit(1)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--id",
    "ids",
    multiple=True,
    metavar="ID",
    help="Explain a stored receipt (repeatable): its envelope, submitter and recorded authentication results are used.",
)
@click.option(
    "--auth",
    "check_auth",
    is_flag=True,
    help="For FILES: check DKIM, DMARC and ARC now, over [trust] nameservers (there is no peer, so no SPF).",
)
@with_state
def explain(state: State, files: tuple[Path, ...], ids: tuple[str, ...], check_auth: bool) -> None:
    """Print the linker's plan for .eml FILES (or receipts --id ID) as JSON, storing nothing (JSON Lines for
    several). The "auth" key holds the DKIM, SPF, DMARC and ARC results: a receipt's as the gateway recorded them,
    a file's with --auth."""
    from linker.directory import MemoryDirectory  # noqa: PLC0415
    from linker.errors import LinkerError  # noqa: PLC0415
    from linker.explain import check_email, explain_message  # noqa: PLC0415
    from linker.pipeline import Envelope  # noqa: PLC0415
    from mailassist.build import linker_settings, make_authenticator, open_existing_store  # noqa: PLC0415

    if not files and not ids:
        raise click.UsageError("give .eml FILES to explain, or --id ID for a stored receipt")
    settings = linker_settings(state.config)
    authenticator = make_authenticator(state.config) if check_auth else None
    jobs: list[tuple[dict[str, Any], Callable[[], tuple[bytes, Any, Any, dict[str, Any]]]]] = []
    for path in files:

        def read_file(path: Path = path) -> tuple[bytes, Any, Any, dict[str, Any]]:
            raw = path.read_bytes()
            check_email(raw)
            auth = None
            if authenticator is not None:
                auth = authenticator.check(raw, ip=None, helo=None, mail_from="").to_json()
            return raw, Envelope(), auth, {}

        jobs.append(({"file": str(path)}, read_file))
    count = len(files) + len(ids)
    failures = 0
    with open_existing_store(state.config) as store:
        directory = store.directory if store is not None else MemoryDirectory()
        for inbound_id in ids:
            jobs.append(({"id": inbound_id}, functools.partial(_receipt_input, store, inbound_id)))
        for label, read in jobs:
            try:
                raw, envelope, auth, receipt = read()
                result = {**label, **receipt, **explain_message(raw, settings, directory=directory, envelope=envelope)}
                result["auth"] = auth
            except (OSError, LinkerError, LookupError) as exc:
                failures += 1
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                result = {**label, "error": f"{type(exc).__name__}: {reason}"}
                click.echo(f"mailassist: explain {next(iter(label.values()))}: {reason}", err=True)
            pretty = count == 1 and "error" not in result
            click.echo(json.dumps(result, ensure_ascii=False, indent=2 if pretty else None))
    if failures:
        sys.exit(1)


def _receipt_input(store: Store | None, inbound_id: str) -> tuple[bytes, Any, Any, dict[str, Any]]:
    """A stored receipt's raw bytes, its envelope as the linker sees it, its recorded auth results, and its
    ``source`` (``smtp``, ``api``, ``file``, ``imap:NAME``)."""
    from linker.pipeline import Envelope  # noqa: PLC0415

    if store is None:
        raise LookupError(f"no receipt {inbound_id}: there is no database yet")
    found = store.receipts.get_inbound_with_raw(inbound_id)
    if found is None:
        raise LookupError(f"no receipt {inbound_id}")
    inbound, raw = found
    raw = raw if raw is not None else store.content.get_blob(inbound.sha256)
    envelope = Envelope(inbound.mail_from, inbound.rcpt_tos, inbound.submitter, inbound.proof)
    auth = (
        None
        if inbound.proof is None
        else {"proof": inbound.proof, "submitter": inbound.submitter, **(inbound.auth or {})}
    )
    return raw, envelope, auth, {"source": inbound.source}


@click.command()
@click.option("--failed", "all_failed", is_flag=True, help="Reprocess every failed receipt.")
@click.option("--id", "ids", multiple=True, metavar="ID", help="Reprocess this receipt (repeatable).")
@click.option(
    "--relink",
    is_flag=True,
    help="File past mail on today's directory: codes that now name a record, leads that became contacts (converted), "
    "addresses that now match a contact or client, or a client's domain.",
)
@click.option(
    "--split-merged",
    is_flag=True,
    help="Refile emails whose receipts are not one email by today's rule (a reused Message-ID, one template to "
    "several people), each receipt as itself; give the others today's keys.",
)
@click.option(
    "--renormalize",
    is_flag=True,
    help="Decode RFC 2047 words still in stored names and subjects, and store IDN addresses and domains in their "
    "matching (A-label) form; with --relink, leads that were duplicates of contacts become converted.",
)
@with_state
def reprocess(  # noqa: PLR0917 - click passes every option
    state: State, all_failed: bool, ids: tuple[str, ...], relink: bool, split_merged: bool, renormalize: bool
) -> None:
    """Run failed receipts through the linker again, and/or re-link history to newly imported contacts."""
    from mailassist.build import make_processor  # noqa: PLC0415

    if not (all_failed or ids or relink or split_merged or renormalize):
        raise click.UsageError("say what to reprocess: --failed, --id ID, --relink, --split-merged or --renormalize")
    with store_of(state) as store:
        if renormalize:  # first: what follows looks addresses up in their matching form
            _renormalize(store)
        targets = list(ids)
        if all_failed:
            targets += [v.id for v in store.receipts.list_inbound(status="failed", limit=1_000_000)]
        processor = make_processor(state.config, store)
        for inbound_id in dict.fromkeys(targets):
            row = store.receipts.get_inbound(inbound_id)
            if row is None:
                click.echo(f"{inbound_id}: no such receipt", err=True)
                continue
            if row.status == "failed":
                store.receipts.mark_requeued(inbound_id)
            if row.status in ("failed", "queued"):
                processor.process_now(inbound_id)
            after = store.receipts.get_inbound(inbound_id)
            assert after is not None
            note = after.last_error if after.status == "failed" else after.reason
            click.echo(f"{inbound_id}: {row.status} -> {after.status}" + (f" ({note})" if note else ""))
        if relink:
            _relink(state, store, None)
        if split_merged:
            _split_merged(store, processor)


def _renormalize(store: Store) -> None:
    """``reprocess --renormalize``: stored names and addresses read by today's rules (``store.repair``)."""
    from linker.addresses import normalize_address, normalize_domain  # noqa: PLC0415
    from linker.encoded_words import decode_encoded_words  # noqa: PLC0415

    names = store.filing.repair_names(decode_encoded_words)
    result = store.filing.repair_addresses(normalize_address, normalize_domain)
    for taken in result.taken:
        click.echo(f"left as it is, its matching form is taken: {taken}", err=True)
    click.echo(
        f"renormalize: {names} names or subjects decoded, {result.changed} addresses or domains in matching form"
    )


def _split_merged(store: Store, processor: Any) -> None:
    """``reprocess --split-merged``: each email filed from several receipts is planned again receipt by receipt;
    when their dedupe keys differ it merged different emails, and is refiled (``store.refile``)."""
    split = rekeyed = 0
    for message_id, receipts in store.filing.list_shared_messages().items():
        keys: set[tuple[str, str | None] | None] = set()
        for inbound_id in receipts:
            found = store.receipts.get_inbound_with_raw(inbound_id)
            if found is None:
                continue
            inbound, raw = found
            outcome = processor.pipeline(inbound, raw if raw is not None else store.content.get_blob(inbound.sha256))
            message = outcome.write.message if outcome.write is not None else None
            keys.add((message.dedupe_key, message.content_key) if message is not None else None)
        if len(keys) > 1:
            for inbound_id in store.filing.refile_message(message_id):
                processor.process_now(inbound_id)
            split += 1
            click.echo(f"message {message_id}: {len(receipts)} receipts were not one email; refiled")
        elif len(keys) == 1 and (key := next(iter(keys))) is not None:
            rekeyed += store.filing.rekey_message(message_id, *key)
    click.echo(f"split-merged: {split} emails refiled from their receipts, {rekeyed} given today's keys")
