"""The ``mailassist`` command line: run the parts, read the ingest log, import the directory, migrate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from mailassist import message_cli
from mailassist.cli_accounts import db, token, user
from mailassist.cli_base import Group, State, fail, friendly, store_of, when, with_state
from mailassist.cli_mail import explain, import_cmd, ingest, reprocess
from mailassist.cli_webhooks import webhooks
from store import STATUSES, InboundView
from web.api_json import fields_of


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = State(config_path)


def _run_parts(state: State, **parts: bool) -> None:
    from mailassist.runtime import run  # noqa: PLC0415

    run(state.config, **parts)


#: The commands that run parts of mailassist (``poller`` is below: it checks the config first): each one's help,
#: and the parts it runs (smtp, worker, web, the IMAP pollers).
_RUN_COMMANDS = {
    "serve": ("Run SMTP, the worker, the web viewer and the IMAP pollers ([[sources.imap]]) in one process (the "
              "embedded mode).", (True, True, True, True)),
    "smtp": ("Run only the SMTP gateway (needs a redis queue.broker).", (True, False, False, False)),
    "worker": ("Run only queue workers and the sweeper (needs a redis queue.broker).", (False, True, False, False)),
    "web": ("Run only the web viewer.", (False, False, True, False)),
}  # fmt: skip


def _run_command(name: str, help_text: str, parts: tuple[bool, bool, bool, bool]) -> click.Command:
    """The command ``mailassist NAME``, which runs ``parts``."""
    smtp, worker, web, poller = parts

    @click.command(name, help=help_text)
    @with_state
    def command(state: State) -> None:
        _run_parts(state, smtp=smtp, worker=worker, web=web, poller=poller)

    return command


@cli.command()
@with_state
def poller(state: State) -> None:
    """Run only the IMAP pollers of [[sources.imap]] (needs a redis queue.broker). Run as many as you like: a
    lease in the store keeps two pollers from polling the same mailbox."""
    if not state.config.sources.imap:
        fail("no [[sources.imap]] block in the config: there is nothing to poll", 2)
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
@with_state
def sources(state: State, as_json: bool) -> None:
    """The mailbox sources ([[sources.imap]]): each one's state, last poll, messages taken and last error, then
    its folders (UIDVALIDITY and the last UID taken)."""
    configured = {s.name: s for s in state.config.sources.imap}
    with store_of(state) as store:
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
        last_poll = when(datetime.fromisoformat(r["last_poll"])) if r["last_poll"] else "never"
        who = f"{r['owner']}  {r['server']}" if r["configured"] else "(no longer configured)"
        click.echo(
            f"{r['name']:<{width}}  {r['kind'] or '-':<8}  {r['state']:<8}  {last_poll:<16}  "
            f"{r['messages_taken']:>7}  {who}"
        )
        if r["last_error"] and (r["failures"] or r["state"] in ("backoff", "stale")):
            retry = f"; next try {when(datetime.fromisoformat(r['next_poll']))}" if r["state"] == "backoff" else ""
            click.echo(f"{'':<{width}}  last error ({r['failures']} in a row{retry}): {r['last_error']}")
        for f in r["folders"]:
            click.echo(
                f"{'':<{width}}  {f['folder']}: uidvalidity {f['uidvalidity']}, last uid {f['last_uid']}, "
                f"{f['messages_taken']} taken" + (f", started over {f['resets']}x" if f["resets"] else "")
            )


def _queue_row(view: InboundView) -> dict[str, Any]:
    """One receipt for ``queue --json`` (its keys in this order, which scripts may rely on)."""
    return {
        **fields_of(view, "id", "status"),
        "received_at": view.received_at.isoformat(),
        "mail_from": view.mail_from,
        "rcpt_tos": list(view.rcpt_tos),
        **fields_of(view, "size", "sha256", "peer", "submitter", "proof", "source", "attempts", "last_error", "reason"),
        "processed_at": view.processed_at.isoformat() if view.processed_at else None,
    }


@cli.command()
@click.option("--status", type=click.Choice(STATUSES), help="Only receipts in this state.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@with_state
def queue(state: State, status: str | None, limit: int, as_json: bool) -> None:
    """Show the ingest log, newest first (like Postfix's mailq)."""
    with store_of(state) as store:
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


for command in (import_cmd, ingest, explain, reprocess, db, user, token, webhooks):
    cli.add_command(command)
for name, (help_text, parts) in _RUN_COMMANDS.items():
    cli.add_command(_run_command(name, help_text, parts))
message_cli.register(cli, store_of=store_of, friendly=friendly, fail=fail)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mailassist")
