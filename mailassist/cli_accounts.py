"""``mailassist db``, ``user`` and ``token``: the schema, viewer accounts and API tokens."""

from __future__ import annotations

import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta

import click

from mailassist.cli_base import Group, State, fail, store_of, when, with_state
from store import Store
from store.idn import stored_email


@click.group(cls=Group)
def db() -> None:
    """Database schema migrations."""


def _unopened_store(state: State) -> Store:
    """The configured store, not opened: its schema neither checked nor migrated (``store_of`` checks it)."""
    return Store(state.config.store_url, state.config.resolve(state.config.store.blob_dir))


@db.command("upgrade")
@with_state
def db_upgrade(state: State) -> None:
    """Apply every pending Alembic migration."""
    from store.db import upgrade  # noqa: PLC0415

    with closing(_unopened_store(state)) as store:
        before, after = upgrade(store.engine)
    if before == after:
        click.echo(f"Database already at {after}.")
    else:
        click.echo(f"Database upgraded from {before or 'empty'} to {after}.")


@db.command("current")
@with_state
def db_current(state: State) -> None:
    """Print the schema revision and the one this version needs."""
    from store.db import current_revision, head_revision  # noqa: PLC0415

    with closing(_unopened_store(state)) as store:
        click.echo(f"current: {current_revision(store.engine) or 'empty'}\nhead:    {head_revision()}")


@click.group(cls=Group)
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
            fail("expected the password twice on standard input, one per line")
        first, second = first.removesuffix("\n").removesuffix("\r"), second.removesuffix("\n").removesuffix("\r")
    if first != second:
        fail("the two passwords do not match; nothing was changed")
    return str(first)


@user.command("set-password")
@click.argument("email")
@with_state
def user_set_password(state: State, email: str) -> None:
    """Set the web viewer password of the user EMAIL (asked twice; read as two lines when stdin is not a terminal)."""
    from web.auth.passwords import PasswordPolicyError, check_new_password, hash_password  # noqa: PLC0415

    with store_of(state) as store:
        if store.auth.get_login(email) is None:
            fail(f"no user with the email {email}; import users first ('mailassist import users FILE')")
        password = _read_new_password()
        try:
            check_new_password(password)
        except PasswordPolicyError as exc:
            fail(f"{exc}; nothing was changed")
        if not store.auth.set_password_hash(email, hash_password(password)):
            fail(f"no user with the email {email}")
    click.echo(
        f"Password set for {stored_email(email)}; the user's sessions are logged out and API tokens other than "
        "service tokens revoked."
    )


@user.command("set-time-zone")
@click.argument("email")
@click.argument("zone", required=False)
@click.option("--clear", is_flag=True, help="Forget the zone: the viewer shows the browser's, else UTC.")
@with_state
def user_set_time_zone(state: State, email: str, zone: str | None, clear: bool) -> None:
    """Set the time zone the web viewer shows the user EMAIL's times in: an IANA name such as Europe/Warsaw.

    It comes before the browser's own zone; without one (or after --clear) the viewer shows the browser's, else UTC.
    """
    from web.timezone import find_zone  # noqa: PLC0415

    if clear == (zone is not None):
        fail("give either a ZONE (such as Europe/Warsaw) or --clear")
    if zone is not None and find_zone(zone) is None:
        fail(f"{zone[:80]!r} is not a time zone; use an IANA name such as Europe/Warsaw or America/New_York")
    with store_of(state) as store:
        if not store.auth.set_time_zone(email, zone):
            fail(f"no user with the email {email}; import users first ('mailassist import users FILE')")
    shown = f"in {zone}" if zone is not None else "in the browser's zone, else UTC"
    click.echo(f"The viewer shows {stored_email(email)}'s times {shown}.")


@user.command("address")
@click.argument("email")
@click.option("--rotate", is_flag=True, help="Replace the address: the old one stops working at once.")
@with_state
def user_address(state: State, email: str, rotate: bool) -> None:
    """Print the user EMAIL's personal assistant address: mail to it is filed as theirs, whatever From says.

    Only a hash of the address's secret part is kept, so an existing address cannot be shown again: the first call
    makes one, and later calls need --rotate to make a new one (which ends the old one).
    """
    from gateway.policy import RecipientPolicy, hash_address_token, new_address_token  # noqa: PLC0415

    with store_of(state) as store:
        login = store.auth.get_login(email)
        if login is None:
            fail(f"no user with the email {email}; import users first ('mailassist import users FILE')")
        assert login is not None
        if store.auth.has_assistant_token(login.email) and not rotate:
            fail(
                f"{login.email} already has a personal assistant address; only its hash is kept, so it cannot be "
                "shown again. Use --rotate to replace it (the old one stops working at once)."
            )
        token = new_address_token()
        if not store.auth.set_assistant_token_hash(login.email, hash_address_token(token)):
            fail(f"no user with the email {email}")
    click.echo(RecipientPolicy(state.config.assistant.addresses).personal_address(token))
    what = "Replaced: the previous address no longer works." if rotate else "Keep it private: it proves who sent."
    click.echo(f"Personal assistant address of {login.email}. {what}", err=True)


@click.group(cls=Group)
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
@with_state
def token_create(
    state: State, email: str, *, name: str, scopes: tuple[str, ...], expires_in: int | None, service: bool
) -> None:
    """Create a token acting as the user EMAIL and print it; it cannot be shown again (only its hash is kept).

    Unless it is a service token, setting the user's password revokes it.
    """
    from web.auth.passwords import TOKEN_SCOPES, hash_api_token, new_api_token  # noqa: PLC0415

    wanted = sorted({s.strip().lower() for s in scopes}) or ["read"]
    unknown = [s for s in wanted if s not in TOKEN_SCOPES]
    if unknown:
        fail(f"unknown scope {', '.join(map(repr, unknown))}: expected {', '.join(TOKEN_SCOPES)}")
    expires_at = datetime.now(UTC) + timedelta(days=expires_in) if expires_in is not None else None
    with store_of(state) as store:
        login = store.auth.get_login(email)
        if login is None:
            fail(f"no user with the email {email}; import users first ('mailassist import users FILE')")
        assert login is not None
        secret = new_api_token()
        token_id = store.auth.add_api_token(
            login.id, name.strip(), hash_api_token(secret), scopes=wanted, expires_at=expires_at, service=service
        )
    click.echo(secret)
    until = f"until {when(expires_at)} UTC" if expires_at is not None else "no expiry"
    kind = "service token, kept across password changes" if service else "revoked by a password change"
    click.echo(
        f"Token {token_id} for {login.email} (role {login.role}), scopes {' '.join(wanted)}, {until}, {kind}. "
        "Copy it now: it is not shown again.",
        err=True,
    )


@token.command("list")
@click.argument("email", required=False)
@with_state
def token_list(state: State, email: str | None) -> None:
    """List API tokens (every user's, or EMAIL's), revoked ones too; never the tokens themselves."""
    with store_of(state) as store:
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
            f"{r.id:>5}  {r.user_email:<{width}}  {when(r.created_at):<16}  {when(r.last_used_at):<16}  "
            f"{when(r.revoked_at):<16}  {when(r.expires_at):<16}  {','.join(r.scopes):<{scopes_width}}  "
            f"{'yes' if r.service else 'no':<7}  {r.name or '-'}"
        )


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@with_state
def token_revoke(state: State, token_id: int) -> None:
    """Revoke the API token ID for good (see 'token list')."""
    with store_of(state) as store:
        if not store.auth.revoke_api_token(token_id):
            fail(f"no active API token with id {token_id}")
    click.echo(f"Token {token_id} revoked.")
