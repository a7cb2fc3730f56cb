"""``mailassist user set-password`` and ``mailassist token create|list|revoke``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from mailassist.cli import cli
from store import Store
from store.models import ApiToken
from web.auth.passwords import verify_password

PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path: Path) -> str:
    """A config over a fresh SQLite store holding two users."""
    path = tmp_path / "c.toml"
    path.write_text('[store]\nurl = "sqlite:///m.db"\nblob_dir = "blobs"\n')
    users = tmp_path / "users.csv"
    users.write_text(
        "email,name,team,role,aliases\nanna@example.com,Anna Nowak,Sales PL,team,\nboss@example.com,Boss,,all,\n"
    )
    result = CliRunner().invoke(cli, ["--config", str(path), "import", "users", str(users)])
    assert result.exit_code == 0, result.output
    return str(path)


def _run(config: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", config, *args], input=input)


def _store(config: str) -> Store:
    root = Path(config).parent
    store = Store(f"sqlite:///{root / 'm.db'}", root / "blobs")
    store.open()
    return store


def _password_hash(config: str, email: str) -> str | None:
    store = _store(config)
    try:
        login = store.auth.get_login(email)
        assert login is not None
        return login.password_hash
    finally:
        store.close()


def test_set_password_reads_it_twice_from_stdin(config: str) -> None:
    result = _run(config, "user", "set-password", "Anna@Example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password set for anna@example.com" in result.output
    stored = _password_hash(config, "anna@example.com")
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "x")


def test_set_password_keeps_inner_spaces_and_accepts_a_last_line_without_newline(config: str) -> None:
    result = _run(config, "user", "set-password", "anna@example.com", input=f" {PASSWORD} \n {PASSWORD} ")
    assert result.exit_code == 0, result.output
    stored = _password_hash(config, "anna@example.com")
    assert stored is not None and verify_password(stored, f" {PASSWORD} ")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (f"{PASSWORD}\n{PASSWORD}!\n", "the two passwords do not match"),
        ("short pw\nshort pw\n", "too short: at least 10 characters"),
        ("\n\n", "the password is empty"),
        (f"{PASSWORD}\n", "expected the password twice"),
        ("", "expected the password twice"),
    ],
)
def test_set_password_refuses_bad_input_and_changes_nothing(config: str, given: str, message: str) -> None:
    result = _run(config, "user", "set-password", "anna@example.com", input=given)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert _password_hash(config, "anna@example.com") is None


def test_set_password_for_an_unknown_user_is_a_clear_error(config: str) -> None:
    result = _run(config, "user", "set-password", "ghost@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 1
    assert "no user with the email ghost@example.com" in result.output


def test_token_create_prints_the_token_once_and_stores_only_its_hash(config: str) -> None:
    result = _run(config, "token", "create", "anna@example.com", "--name", "laptop")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("ma_") and len(token) > 40
    assert "not shown again" in result.stderr

    store = _store(config)
    try:
        with store.engine.connect() as conn:
            hashes = list(conn.execute(select(ApiToken.token_hash, ApiToken.name)))
        assert hashes == [(hashlib.sha256(token.encode()).hexdigest(), "laptop")]
        grant = store.auth.find_token_user(hashes[0][0])
        assert grant is not None and grant.user.email == "anna@example.com"
        assert grant.scopes == frozenset({"read"})
    finally:
        store.close()

    listed = _run(config, "token", "list")
    assert listed.exit_code == 0, listed.output
    assert "anna@example.com" in listed.output and "laptop" in listed.output
    assert token not in listed.output
    assert hashes[0][0] not in listed.output


def test_token_create_for_an_unknown_user_fails(config: str) -> None:
    result = _run(config, "token", "create", "ghost@example.com")
    assert result.exit_code == 1
    assert "no user with the email ghost@example.com" in result.output
    assert result.stdout == ""


def test_token_list_filters_by_user_and_revoke_marks_it(config: str) -> None:
    assert _run(config, "token", "list").output.strip() == "No API tokens."
    _run(config, "token", "create", "anna@example.com", "--name", "one")
    _run(config, "token", "create", "boss@example.com", "--name", "two")

    only_boss = _run(config, "token", "list", "boss@example.com").output
    assert "two" in only_boss and "anna@example.com" not in only_boss

    revoked = _run(config, "token", "revoke", "1")
    assert revoked.exit_code == 0 and "Token 1 revoked" in revoked.output
    again = _run(config, "token", "revoke", "1")
    assert again.exit_code == 1 and "no active API token with id 1" in again.output
    assert _run(config, "token", "revoke", "99").exit_code == 1

    lines = _run(config, "token", "list").output.splitlines()
    assert lines[0].split()[:5] == ["ID", "USER", "CREATED", "(UTC)", "LAST"]
    anna_row = next(line for line in lines if "anna@example.com" in line)
    boss_row = next(line for line in lines if "boss@example.com" in line)
    assert anna_row.count("20") >= 2  # created and revoked dates
    assert boss_row.split()[-5:] == ["-", "-", "read", "no", "two"]


def test_token_create_takes_scopes_an_expiry_and_service(config: str) -> None:
    result = _run(
        config,
        "token",
        "create",
        "anna@example.com",
        "--name",
        "sync",
        "--scope",
        "ingest",
        "--scope",
        "READ",
        "--expires-in",
        "30",
        "--service",
    )
    assert result.exit_code == 0, result.output
    assert "scopes ingest read" in result.stderr and "service token" in result.stderr

    store = _store(config)
    try:
        (listed,) = store.auth.list_api_tokens()
    finally:
        store.close()
    assert listed.scopes == ("ingest", "read") and listed.service
    assert listed.expires_at is not None
    assert abs(listed.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)

    row = next(line for line in _run(config, "token", "list").output.splitlines() if "sync" in line)
    assert row.split()[-3:] == ["ingest,read", "yes", "sync"]
    assert f"{listed.expires_at:%Y-%m-%d %H:%M}" in row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "write"], "unknown scope 'write': expected read, ingest, directory:write"),
        (["--expires-in", "0"], "0 is not in the range"),
        (["--expires-in", "soon"], "'soon' is not a valid integer"),
    ],
)
def test_token_create_refuses_bad_values_and_creates_nothing(config: str, args: list[str], message: str) -> None:
    result = _run(config, "token", "create", "anna@example.com", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert _run(config, "token", "list").output.strip() == "No API tokens."


def test_set_password_revokes_tokens_but_not_service_tokens(config: str) -> None:
    _run(config, "token", "create", "anna@example.com", "--name", "laptop")
    _run(config, "token", "create", "anna@example.com", "--name", "sync", "--service")

    result = _run(config, "user", "set-password", "anna@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "sessions are logged out" in result.output

    store = _store(config)
    try:
        tokens = {t.name: t for t in store.auth.list_api_tokens()}
    finally:
        store.close()
    assert tokens["laptop"].revoked_at is not None
    assert tokens["sync"].revoked_at is None


def test_user_address_prints_a_personal_address_once_and_rotate_replaces_it(config: str) -> None:
    from gateway.policy import hash_address_token

    first = _run(config, "user", "address", "Anna@Example.com")
    assert first.exit_code == 0, first.output
    address = first.stdout.strip()
    local, _, domain = address.partition("@")
    base, _, token = local.partition("+")
    assert (base, domain, len(token)) == ("assistant", "crm.example.com", 24)
    store = _store(config)
    try:
        found = store.auth.find_user_by_assistant_token(hash_address_token(token))
        assert found is not None and found.email == "anna@example.com"
    finally:
        store.close()
    # Only its hash is kept: asking again says so instead of making a new one behind the user's back
    again = _run(config, "user", "address", "anna@example.com")
    assert again.exit_code == 1
    assert "--rotate" in again.output
    rotated = _run(config, "user", "address", "anna@example.com", "--rotate")
    assert rotated.exit_code == 0, rotated.output
    new_token = rotated.stdout.strip().partition("@")[0].partition("+")[2]
    assert new_token != token
    store = _store(config)
    try:
        assert store.auth.find_user_by_assistant_token(hash_address_token(token)) is None
        assert store.auth.find_user_by_assistant_token(hash_address_token(new_token)) is not None
    finally:
        store.close()


def test_user_address_for_an_unknown_user_is_a_clear_error(config: str) -> None:
    result = _run(config, "user", "address", "nobody@example.com")
    assert result.exit_code == 1
    assert "no user with the email nobody@example.com" in result.output


def test_token_create_takes_the_directory_write_scope(config: str) -> None:
    created = _run(config, "token", "create", "anna@example.com", "--name", "crm", "--scope", "directory:write")
    assert created.exit_code == 0, created.output
    assert "scopes directory:write" in created.output
    row = next(line for line in _run(config, "token", "list").output.splitlines() if "crm" in line)
    assert "directory:write" in row.split()
