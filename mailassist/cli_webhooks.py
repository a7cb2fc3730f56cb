"""``mailassist webhooks``: deliveries and failures, a retry, a new secret."""

from __future__ import annotations

import json
from typing import Any

import click

from mailassist.cli_base import Group, State, fail, friendly, store_of, when, with_state
from web.api_json import fields_of


def _delivery_row(d: Any) -> dict[str, Any]:
    """One delivery for ``webhooks --json`` (its keys in this order, which scripts may rely on)."""
    return {
        **fields_of(d, "id", "endpoint", "event", "event_id"),
        "receipt_id": d.inbound_id,
        **fields_of(d, "status", "attempts"),
        "created_at": d.created_at.isoformat(),
        "next_attempt_at": d.next_attempt_at.isoformat() if d.status == "pending" else None,
        "sent_at": d.sent_at.isoformat() if d.sent_at else None,
        **fields_of(d, "last_status", "last_error"),
    }


@click.group(cls=Group, invoke_without_command=True)
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
    state: State = ctx.obj
    with store_of(state) as store:
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
                f"{d.id:>7}  {when(d.created_at):<16}  {d.endpoint:<16}  {d.event:<15}  {d.status:<7}  "
                f"{d.attempts:>5}  {d.inbound_id or '-'}"
            )
            if d.last_error and d.status != "sent":
                due = f"; next try {when(d.next_attempt_at)}" if d.status == "pending" else ""
                click.echo(f"{'':<9}({d.last_error.splitlines()[0]}{due})")
    for name in sorted({e for e, _ in counts}):
        per = ", ".join(f"{counts.get((name, s), 0)} {s}" for s in ("pending", "sent", "failed"))
        click.echo(f"-- {name}: {per}")


@webhooks.command("retry")
@click.argument("delivery_id", metavar="ID", type=int)
@with_state
def webhooks_retry(state: State, delivery_id: int) -> None:
    """Send the delivery ID again (a failed one, or one waiting for its next try): due now, attempts from 0."""
    with store_of(state) as store:
        if not store.webhooks.retry_delivery(delivery_id):
            fail(f"no failed or pending webhook delivery with id {delivery_id}")
    click.echo(f"Delivery {delivery_id} queued again; a running worker (or serve) sends it within a second or so.")


@webhooks.command("secret")
def webhooks_secret() -> None:
    """Print a new random secret for a [[webhooks]] block (whsec_ and 32 bytes in base64)."""
    from mailassist.webhooks import new_secret  # noqa: PLC0415

    click.echo(new_secret())
