"""The ``mailassist`` command line: run the parts, read the ingest log, import the directory, migrate."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from mailassist import importer, message_cli
from mailassist.config import Config, ConfigError, load_config
from mailassist.logs import configure_logging
from store import STATUSES, InboundView, Store, StoreError
from store.errors import ImportConflictError
from store.shapes import ImportResult, RelinkScope

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            configure_logging(self._config.logging.level, self._config.logging.format)
        return self._config


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"mailassist: {message}", err=True)
    sys.exit(code)


def friendly(fn: F) -> F:
    """Turn our expected errors into one line on stderr and a non-zero exit, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mailassist.linkpool import LinkerStartError  # noqa: PLC0415 - keep `--help` fast
        from mailassist.runtime import MemoryBrokerError  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc), 2)
        except MemoryBrokerError as exc:
            _fail(str(exc), 2)
        except LinkerStartError as exc:
            _fail(str(exc), 1)
        except StoreError as exc:
            _fail(str(exc), 1)
        except OSError as exc:
            _fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), 1)

    return wrapper  # type: ignore[return-value]


@contextmanager
def _store(state: _State, *, upgrade: bool | None = None) -> Iterator[Store]:
    from mailassist.build import open_store  # noqa: PLC0415

    store = open_store(state.config, upgrade=upgrade)
    try:
        yield store
    finally:
        store.close()


def _override_config_path(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    state = ctx.find_object(_State)
    if state is None:
        ctx.obj = _State(value)
    else:
        # Nothing has read the config yet (it loads lazily), so changing the path here is enough.
        state.config_path = value


def _config_option() -> click.Option:
    # No envvar: MAILASSIST_CONFIG already reaches the group's --config, and must not override this one.
    return click.Option(
        ["--config"],
        expose_value=False,
        callback=_override_config_path,
        metavar="FILE",
        help="Config file; overrides a --config before the command and $MAILASSIST_CONFIG.",
    )


class _Group(click.Group):
    """A group whose every command, nested ones too, also takes ``--config`` after its name."""

    group_class = type  # subgroups (db, user, token) are _Groups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(isinstance(p, click.Option) and "--config" in p.opts for p in cmd.params):
            cmd.params.append(_config_option())
        super().add_command(cmd, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="MAILASSIST_CONFIG",
    metavar="FILE",
    help="Config file (default: $MAILASSIST_CONFIG, else ./config.example.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """mailassist: the SMTP gateway that files BCC'd and forwarded mail into CRM history."""
    ctx.obj = _State(config_path)


def _run_parts(state: _State, **parts: bool) -> None:
    from mailassist.runtime import run  # noqa: PLC0415

    run(state.config, **parts)


@cli.command()
@click.pass_obj
@friendly
def serve(state: _State) -> None:
    """Run SMTP, the worker, the web viewer and the IMAP pollers ([[sources.imap]]) in one process (the embedded
    mode)."""
    _run_parts(state, smtp=True, worker=True, web=True, poller=True)


@cli.command()
@click.pass_obj
@friendly
def smtp(state: _State) -> None:
    """Run only the SMTP gateway (needs a redis queue.broker)."""
    _run_parts(state, smtp=True, worker=False, web=False, poller=False)


@cli.command()
@click.pass_obj
@friendly
def worker(state: _State) -> None:
    """Run only queue workers and the sweeper (needs a redis queue.broker)."""
    _run_parts(state, smtp=False, worker=True, web=False, poller=False)


@cli.command()
@click.pass_obj
@friendly
def web(state: _State) -> None:
    """Run only the web viewer."""
    _run_parts(state, smtp=False, worker=False, web=True, poller=False)


@cli.command()
@click.pass_obj
@friendly
def poller(state: _State) -> None:
    """Run only the IMAP pollers of [[sources.imap]] (needs a redis queue.broker). Run as many as you like: a
    lease in the store keeps two pollers from polling the same mailbox."""
    if not state.config.sources.imap:
        _fail("no [[sources.imap]] block in the config: there is nothing to poll", 2)
    _run_parts(state, smtp=False, worker=False, web=False, poller=True)


def _source_row(source: Any, found: Any, now: datetime) -> dict[str, Any]:
    """One source for ``mailassist sources``: its config (``None``: no longer configured) and its store row."""
    row: dict[str, Any] = {"name": found.name if found is not None else source.name}
    if source is not None:
        row["kind"] = "personal" if source.user is not None else "group"
        row["owner"] = source.user if source.user is not None else f"{source.team} (for {source.submitter})"
        row["server"] = f"{source.login}@{source.host}:{source.server_port}"
    else:
        row.update(kind=None, owner=None, server=None)
    state = found.state if found is not None else "new"
    if found is not None and state in ("polling", "waiting", "backoff") and not found.leased(now):
        state = "stale"  # its poller died or lost the store: whoever takes the lease next goes on
    row.update(
        state=state,
        configured=source is not None,
        poller=found.lease_owner if found is not None and found.leased(now) else None,
        last_poll=found.last_poll_at.isoformat() if found is not None and found.last_poll_at else None,
        last_ok=found.last_ok_at.isoformat() if found is not None and found.last_ok_at else None,
        next_poll=found.next_poll_at.isoformat() if found is not None and found.next_poll_at else None,
        failures=found.failures if found is not None else 0,
        messages_taken=found.messages_taken if found is not None else 0,
        last_error=found.last_error if found is not None else None,
        last_error_at=found.last_error_at.isoformat() if found is not None and found.last_error_at else None,
        folders=[
            {"folder": f.folder, "uidvalidity": f.uidvalidity, "last_uid": f.last_uid,
             "messages_taken": f.messages_taken, "resets": f.resets}
            for f in (found.folders if found is not None else ())
        ],
    )  # fmt: skip
    return row


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
@friendly
def sources(state: _State, as_json: bool) -> None:
    """The mailbox sources ([[sources.imap]]): each one's state, last poll, messages taken and last error, then
    its folders (UIDVALIDITY and the last UID taken)."""
    configured = {s.name: s for s in state.config.sources.imap}
    with _store(state) as store:
        found = {s.name: s for s in store.sources.list_source_states()}
    now = datetime.now(UTC)
    names = [*configured, *sorted(n for n in found if n not in configured)]
    rows = [_source_row(configured.get(n), found.get(n), now) for n in names]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No mailbox sources: add a [[sources.imap]] block to the config (see config.example.toml).")
        return
    width = max(len("NAME"), *(len(r["name"]) for r in rows))
    click.echo(f"{'NAME':<{width}}  {'KIND':<8}  {'STATE':<8}  {'LAST POLL (UTC)':<16}  {'TAKEN':>7}  OWNER / SERVER")
    for r in rows:
        last_poll = _when(datetime.fromisoformat(r["last_poll"])) if r["last_poll"] else "never"
        who = f"{r['owner']}  {r['server']}" if r["configured"] else "(no longer configured)"
        click.echo(
            f"{r['name']:<{width}}  {r['kind'] or '-':<8}  {r['state']:<8}  {last_poll:<16}  "
            f"{r['messages_taken']:>7}  {who}"
        )
        if r["last_error"] and (r["failures"] or r["state"] in ("backoff", "stale")):
            retry = f"; next try {_when(datetime.fromisoformat(r['next_poll']))}" if r["state"] == "backoff" else ""
            click.echo(f"{'':<{width}}  last error ({r['failures']} in a row{retry}): {r['last_error']}")
        for f in r["folders"]:
            click.echo(
                f"{'':<{width}}  {f['folder']}: uidvalidity {f['uidvalidity']}, last uid {f['last_uid']}, "
                f"{f['messages_taken']} taken" + (f", started over {f['resets']}x" if f["resets"] else "")
            )


def _queue_row(view: InboundView) -> dict[str, Any]:
    return {
        "id": view.id,
        "status": view.status,
        "received_at": view.received_at.isoformat(),
        "mail_from": view.mail_from,
        "rcpt_tos": list(view.rcpt_tos),
        "size": view.size,
        "sha256": view.sha256,
        "peer": view.peer,
        "submitter": view.submitter,
        "proof": view.proof,
        "source": view.source,
        "attempts": view.attempts,
        "last_error": view.last_error,
        "reason": view.reason,
        "processed_at": view.processed_at.isoformat() if view.processed_at else None,
    }


@cli.command()
@click.option("--status", type=click.Choice(STATUSES), help="Only receipts in this state.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
@friendly
def queue(state: _State, status: str | None, limit: int, as_json: bool) -> None:
    """Show the ingest log, newest first (like Postfix's mailq)."""
    with _store(state) as store:
        rows = store.receipts.list_inbound(status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([_queue_row(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo("Ingest log is empty." if status is None else f"No {status} receipts.")
        return
    click.echo(f"{'ID':<18}  {'RECEIVED (UTC)':<19}  {'SIZE':>8}  {'STATUS':<7}  SENDER -> RECIPIENTS")
    for r in rows:
        click.echo(
            f"{r.id:<18}  {r.received_at:%Y-%m-%d %H:%M:%S}  {r.size:>8}  {r.status:<7}  "
            f"{r.mail_from or '<>'} -> {', '.join(r.rcpt_tos)}"
        )
        note = r.last_error if r.status in ("failed", "queued") else r.reason if r.status == "ignored" else None
        if note:
            click.echo(f"{'':<20}({note.splitlines()[0]})")
    click.echo(f"-- {len(rows)} receipt{'s' if len(rows) != 1 else ''}")


#: Files with more rows than this show a progress bar while they are checked (on a terminal only).
PROGRESS_ROWS = 1000


def progress_stream() -> TextIO | None:
    """Where progress bars go: standard error when it is a terminal, else nowhere."""
    return sys.stderr if sys.stderr.isatty() else None


@cli.command("import")
@click.argument("kind", type=click.Choice(list(importer.KINDS)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row, against the database too, and write nothing.")
@click.pass_obj
@friendly
def import_cmd(state: _State, kind: str, file: Path, dry_run: bool) -> None:
    """Create or update users, clients, contacts or records from a UTF-8 CSV FILE: every row, or none.

    \b
    users     email,name,team,role,aliases   role: all, team or own
    clients   name,domains,emails
    contacts  name,emails,client             client: a client's name, or empty
    records   code,type,title,client         code: PREFIX-DIGITS, such as OP-123

    Lists are separated by ';'. Rows update what they match (users by email, clients by name, contacts by any of
    their addresses, records by code) and lists become what the row says. Import clients before contacts and
    records.
    """
    spec = importer.KINDS[kind]
    source = click.format_filename(file)
    codes = state.config.code_types
    progress = progress_stream()
    hidden = True
    try:
        text = importer.read_text(file)
        lines = importer.count_lines(text)
        hidden = progress is None or lines <= PROGRESS_ROWS + 1
        steps = max(1, lines // 200)
        label = f"Checking {source}"
        with click.progressbar(
            length=lines, label=label, file=progress or sys.stderr, hidden=hidden, update_min_steps=steps
        ) as bar:
            parsed = importer.parse(text, spec, codes=codes, on_lines=bar.update)
    except importer.FileError as exc:
        parsed = importer.Parsed(problems=exc.problems)
    problems = list(parsed.problems)
    result: ImportResult | None = None
    if not problems or parsed.rows:
        if not hidden:
            click.echo(f"Applying {len(parsed.rows)} rows…", file=progress)
        with _store(state) as store:
            try:
                result = spec.apply(store, parsed.rows, dry_run or bool(problems))
            except ImportConflictError as exc:
                problems += exc.problems
    if problems:
        for line in importer.format_problems(source, problems):
            click.echo(line, err=True)
        _fail(f"{source}: {importer.plural(len(problems), 'problem')}; nothing was imported")
    assert result is not None
    click.echo(importer.summary(source, parsed.count, result, dry_run=dry_run))
    scope = importer.relink_scope(parsed.rows)
    if dry_run or not scope:
        return
    with _store(state) as store:
        _relink(state, store, scope)


def _relink(state: _State, store: Store, scope: RelinkScope | None) -> None:
    """Re-file past mail on today's directory (``scope``: what an import changed), with a progress bar."""
    from mailassist.build import linker_settings  # noqa: PLC0415

    progress = progress_stream()
    total = store.filing.count_relink(scope)
    hidden = progress is None or total <= PROGRESS_ROWS
    free_mail = linker_settings(state.config).free_mail_domains
    with click.progressbar(length=total, label="Relinking", file=progress or sys.stderr, hidden=hidden) as bar:
        result = store.filing.relink(scope, free_mail_domains=free_mail, progress=bar.update)
    click.echo(importer.relink_summary(result))


@cli.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILE.eml|DIR|FILE.mbox…")
@click.option(
    "--as",
    "as_user",
    required=True,
    metavar="USER",
    help="The user whose mail this is: you vouch for it (recorded as proof 'file').",
)
@click.pass_obj
@friendly
def ingest(state: _State, paths: tuple[Path, ...], as_user: str) -> None:
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
    with _store(state) as store:
        queue = Queue(state.config, store)
        # With the in-memory broker no worker listens here: the running 'mailassist serve' sweeps queued receipts.
        enqueue = (lambda _ids: None) if queue.in_memory else queue.send_all
        ingestor = make_ingestor(state.config, store, enqueue)
        try:
            user = ingestor.submitter(as_user)
            if user is None:
                _fail(f"ingest --as {as_user}: not a registered user ('mailassist import users' first)")
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


@cli.command()
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
@click.pass_obj
@friendly
def explain(state: _State, files: tuple[Path, ...], ids: tuple[str, ...], check_auth: bool) -> None:
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


@cli.command()
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
@click.pass_obj
@friendly
def reprocess(  # noqa: PLR0917 - click passes every option
    state: _State, all_failed: bool, ids: tuple[str, ...], relink: bool, split_merged: bool, renormalize: bool
) -> None:
    """Run failed receipts through the linker again, and/or re-link history to newly imported contacts."""
    from mailassist.build import make_processor  # noqa: PLC0415

    if not (all_failed or ids or relink or split_merged or renormalize):
        raise click.UsageError("say what to reprocess: --failed, --id ID, --relink, --split-merged or --renormalize")
    with _store(state) as store:
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


@cli.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.pass_obj
@friendly
def db_upgrade(state: _State) -> None:
    """Apply every pending Alembic migration."""
    from store.db import upgrade  # noqa: PLC0415

    store = Store(state.config.store_url, state.config.resolve(state.config.store.blob_dir))
    try:
        before, after = upgrade(store.engine)
    finally:
        store.close()
    if before == after:
        click.echo(f"Database already at {after}.")
    else:
        click.echo(f"Database upgraded from {before or 'empty'} to {after}.")


@db.command("current")
@click.pass_obj
@friendly
def db_current(state: _State) -> None:
    """Print the schema revision and the one this version needs."""
    from store.db import current_revision, head_revision  # noqa: PLC0415

    store = Store(state.config.store_url, state.config.resolve(state.config.store.blob_dir))
    try:
        click.echo(f"current: {current_revision(store.engine) or 'empty'}\nhead:    {head_revision()}")
    finally:
        store.close()


@cli.group()
def user() -> None:
    """Viewer accounts."""


def _read_new_password() -> str:
    stdin = sys.stdin
    if stdin.isatty():
        first = click.prompt("New password", hide_input=True, default="", show_default=False)
        second = click.prompt("Repeat it", hide_input=True, default="", show_default=False)
    else:
        first, second = stdin.readline(), stdin.readline()
        if not second:
            _fail("expected the password twice on standard input, one per line")
        first, second = first.removesuffix("\n").removesuffix("\r"), second.removesuffix("\n").removesuffix("\r")
    if first != second:
        _fail("the two passwords do not match; nothing was changed")
    return str(first)


@user.command("set-password")
@click.argument("email")
@click.pass_obj
@friendly
def user_set_password(state: _State, email: str) -> None:
    """Set the web viewer password of the user EMAIL (asked twice; read as two lines when stdin is not a terminal)."""
    from web.auth.passwords import PasswordPolicyError, check_new_password, hash_password  # noqa: PLC0415

    with _store(state) as store:
        if store.auth.get_login(email) is None:
            _fail(f"no user with the email {email}; import users first ('mailassist import users FILE')")
        password = _read_new_password()
        try:
            check_new_password(password)
        except PasswordPolicyError as exc:
            _fail(f"{exc}; nothing was changed")
        if not store.auth.set_password_hash(email, hash_password(password)):
            _fail(f"no user with the email {email}")
    click.echo(
        f"Password set for {email.strip().lower()}; the user's sessions are logged out and API tokens other than "
        "service tokens revoked."
    )


@user.command("address")
@click.argument("email")
@click.option("--rotate", is_flag=True, help="Replace the address: the old one stops working at once.")
@click.pass_obj
@friendly
def user_address(state: _State, email: str, rotate: bool) -> None:
    """Print the user EMAIL's personal assistant address: mail to it is filed as theirs, whatever From says.

    Only a hash of the address's secret part is kept, so an existing address cannot be shown again: the first call
    makes one, and later calls need --rotate to make a new one (which ends the old one).
    """
    from gateway.policy import RecipientPolicy, hash_address_token, new_address_token  # noqa: PLC0415

    with _store(state) as store:
        login = store.auth.get_login(email)
        if login is None:
            _fail(f"no user with the email {email}; import users first ('mailassist import users FILE')")
        assert login is not None
        if store.auth.has_assistant_token(login.email) and not rotate:
            _fail(
                f"{login.email} already has a personal assistant address; only its hash is kept, so it cannot be "
                "shown again. Use --rotate to replace it (the old one stops working at once)."
            )
        token = new_address_token()
        if not store.auth.set_assistant_token_hash(login.email, hash_address_token(token)):
            _fail(f"no user with the email {email}")
    click.echo(RecipientPolicy(state.config.assistant.addresses).personal_address(token))
    what = "Replaced: the previous address no longer works." if rotate else "Keep it private: it proves who sent."
    click.echo(f"Personal assistant address of {login.email}. {what}", err=True)


@cli.group()
def token() -> None:
    """API bearer tokens for the viewer's JSON API."""


@token.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for, shown by 'token list'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="SCOPE",
    help="What the token may do: read, ingest or directory:write; repeat for several (default: read).",
)
@click.option(
    "--expires-in",
    type=click.IntRange(min=1, max=3650),
    metavar="DAYS",
    help="The token stops working this many days from now (default: never).",
)
@click.option("--service", is_flag=True, help="A service token: it survives the user's password changes.")
@click.pass_obj
@friendly
def token_create(
    state: _State, email: str, *, name: str, scopes: tuple[str, ...], expires_in: int | None, service: bool
) -> None:
    """Create a token acting as the user EMAIL and print it; it cannot be shown again (only its hash is kept).

    Unless it is a service token, setting the user's password revokes it.
    """
    from web.auth.passwords import TOKEN_SCOPES, hash_api_token, new_api_token  # noqa: PLC0415

    wanted = sorted({s.strip().lower() for s in scopes}) or ["read"]
    unknown = [s for s in wanted if s not in TOKEN_SCOPES]
    if unknown:
        _fail(f"unknown scope {', '.join(map(repr, unknown))}: expected {', '.join(TOKEN_SCOPES)}")
    expires_at = datetime.now(UTC) + timedelta(days=expires_in) if expires_in is not None else None
    with _store(state) as store:
        login = store.auth.get_login(email)
        if login is None:
            _fail(f"no user with the email {email}; import users first ('mailassist import users FILE')")
        assert login is not None
        secret = new_api_token()
        token_id = store.auth.add_api_token(
            login.id, name.strip(), hash_api_token(secret), scopes=wanted, expires_at=expires_at, service=service
        )
    click.echo(secret)
    until = f"until {_when(expires_at)} UTC" if expires_at is not None else "no expiry"
    kind = "service token, kept across password changes" if service else "revoked by a password change"
    click.echo(
        f"Token {token_id} for {login.email} (role {login.role}), scopes {' '.join(wanted)}, {until}, {kind}. "
        "Copy it now: it is not shown again.",
        err=True,
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"


@token.command("list")
@click.argument("email", required=False)
@click.pass_obj
@friendly
def token_list(state: _State, email: str | None) -> None:
    """List API tokens (every user's, or EMAIL's), revoked ones too; never the tokens themselves."""
    with _store(state) as store:
        rows = store.auth.list_api_tokens(email)
    if not rows:
        click.echo("No API tokens." if email is None else f"No API tokens for {email}.")
        return
    width = max(len(r.user_email) for r in rows)
    scopes_width = max(len("SCOPES"), *(len(",".join(r.scopes)) for r in rows))
    click.echo(
        f"{'ID':>5}  {'USER':<{width}}  {'CREATED (UTC)':<16}  {'LAST USED':<16}  {'REVOKED':<16}  {'EXPIRES':<16}  "
        f"{'SCOPES':<{scopes_width}}  SERVICE  NAME"
    )
    for r in rows:
        click.echo(
            f"{r.id:>5}  {r.user_email:<{width}}  {_when(r.created_at):<16}  {_when(r.last_used_at):<16}  "
            f"{_when(r.revoked_at):<16}  {_when(r.expires_at):<16}  {','.join(r.scopes):<{scopes_width}}  "
            f"{'yes' if r.service else 'no':<7}  {r.name or '-'}"
        )


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@click.pass_obj
@friendly
def token_revoke(state: _State, token_id: int) -> None:
    """Revoke the API token ID for good (see 'token list')."""
    with _store(state) as store:
        if not store.auth.revoke_api_token(token_id):
            _fail(f"no active API token with id {token_id}")
    click.echo(f"Token {token_id} revoked.")


def _delivery_row(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "endpoint": d.endpoint,
        "event": d.event,
        "event_id": d.event_id,
        "receipt_id": d.inbound_id,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": d.created_at.isoformat(),
        "next_attempt_at": d.next_attempt_at.isoformat() if d.status == "pending" else None,
        "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        "last_status": d.last_status,
        "last_error": d.last_error,
    }


@cli.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), help="Only deliveries in this state.")
@click.option("--failed", "only_failed", is_flag=True, help="Only failed deliveries (--status failed).")
@click.option("--endpoint", metavar="NAME", help="Only deliveries to this [[webhooks]] name.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_context
@friendly
def webhooks(  # noqa: PLR0917 - click passes every option
    ctx: click.Context, status: str | None, only_failed: bool, endpoint: str | None, limit: int, as_json: bool
) -> None:
    """Webhook deliveries, newest first: endpoint, event, state, attempts, last error; then counts per endpoint."""
    if ctx.invoked_subcommand is not None:
        return
    state: _State = ctx.obj
    with _store(state) as store:
        rows = store.webhooks.list_deliveries(
            status="failed" if only_failed else status, endpoint=endpoint, limit=limit
        )
        counts = store.webhooks.count_deliveries()
    if as_json:
        click.echo(json.dumps([_delivery_row(d) for d in rows], indent=2))
        return
    if not rows:
        click.echo("No webhook deliveries.")
    else:
        click.echo(f"{'ID':>7}  {'CREATED (UTC)':<16}  {'ENDPOINT':<16}  {'EVENT':<15}  {'STATUS':<7}  TRIES  RECEIPT")
        for d in rows:
            click.echo(
                f"{d.id:>7}  {_when(d.created_at):<16}  {d.endpoint:<16}  {d.event:<15}  {d.status:<7}  "
                f"{d.attempts:>5}  {d.inbound_id or '-'}"
            )
            if d.last_error and d.status != "sent":
                due = f"; next try {_when(d.next_attempt_at)}" if d.status == "pending" else ""
                click.echo(f"{'':<9}({d.last_error.splitlines()[0]}{due})")
    for name in sorted({e for e, _ in counts}):
        per = ", ".join(f"{counts.get((name, s), 0)} {s}" for s in ("pending", "sent", "failed"))
        click.echo(f"-- {name}: {per}")


@webhooks.command("retry")
@click.argument("delivery_id", metavar="ID", type=int)
@click.pass_obj
@friendly
def webhooks_retry(state: _State, delivery_id: int) -> None:
    """Send the delivery ID again (a failed one, or one waiting for its next try): due now, attempts from 0."""
    with _store(state) as store:
        if not store.webhooks.retry_delivery(delivery_id):
            _fail(f"no failed or pending webhook delivery with id {delivery_id}")
    click.echo(f"Delivery {delivery_id} queued again; a running worker (or serve) sends it within a second or so.")


@webhooks.command("secret")
def webhooks_secret() -> None:
    """Print a new random secret for a [[webhooks]] block (whsec_ and 32 bytes in base64)."""
    from mailassist.webhooks import new_secret  # noqa: PLC0415

    click.echo(new_secret())


message_cli.register(cli, store_of=_store, friendly=friendly, fail=_fail)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mailassist")
