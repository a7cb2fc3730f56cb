"""Access verbs: password hashes and API tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from store import LoginView, Store, StoreError
from store.models import ApiToken, utcnow
from store.shapes import UserRow


@pytest.fixture
def users(store: Store) -> Store:
    store.directory.apply_users(
        [
            UserRow(line=2, email="anna@example.com", name="Anna Nowak", team="Sales PL", role="team"),
            UserRow(line=3, email="boss@example.com", name="Boss", team=None, role="all"),
        ]
    )
    return store


def _last_used(store: Store, token_id: int) -> object:
    with store.engine.connect() as conn:
        return conn.execute(select(ApiToken.last_used_at).where(ApiToken.id == token_id)).scalar_one()


def test_get_login_finds_users_by_primary_email_case_insensitively(users: Store) -> None:
    login = users.auth.get_login("  Anna@Example.COM ")
    assert isinstance(login, LoginView)
    assert (login.email, login.name, login.role, login.team, login.password_hash) == (
        "anna@example.com",
        "Anna Nowak",
        "team",
        "Sales PL",
        None,
    )
    assert users.auth.get_login_by_id(login.id) == login
    assert users.auth.get_login("nobody@example.com") is None
    assert users.auth.get_login_by_id(10_000) is None


def test_a_login_may_name_an_idn_domain_in_unicode(users: Store) -> None:
    # Given a user the import keeps in A-labels (żabka.test)
    users.directory.apply_users([UserRow(line=4, email="ola@xn--abka-99a.test", name="Ola", team=None, role="all")])
    # Then the address as people write it finds the user, to log in, to set a password or a time zone
    login = users.auth.get_login(" Ola@Żabka.TEST ")
    assert login is not None and login.email == "ola@xn--abka-99a.test"
    assert users.auth.set_password_hash("ola@żabka.test", "$argon2id$x")
    assert users.auth.set_time_zone("ola@żabka.test", "Europe/Warsaw")
    assert users.auth.get_login("ola@xn--abka-99a.test") == users.auth.get_login("ola@żabka.test") != login
    assert users.auth.get_login("ola@żabki.test") is None


def test_set_password_hash_replaces_it_and_refuses_unknown_users(users: Store) -> None:
    assert users.auth.set_password_hash("ANNA@example.com", "$argon2id$first")
    assert users.auth.set_password_hash("anna@example.com", "$argon2id$second")
    login = users.auth.get_login("anna@example.com")
    assert login is not None
    assert login.password_hash == "$argon2id$second"
    assert "argon2" not in repr(login)
    assert not users.auth.set_password_hash("nobody@example.com", "$argon2id$x")


def test_tokens_find_their_user_until_revoked(users: Store) -> None:
    anna = users.auth.get_login("anna@example.com")
    assert anna is not None
    token_id = users.auth.add_api_token(anna.id, "laptop", "a" * 64)
    other_id = users.auth.add_api_token(anna.id, "", "b" * 64)
    assert other_id != token_id

    found = users.auth.find_token_user("a" * 64)
    assert found is not None
    assert found.user == anna
    assert found.scopes == frozenset({"read"})
    assert users.auth.find_token_user("c" * 64) is None

    assert users.auth.revoke_api_token(token_id)
    assert not users.auth.revoke_api_token(token_id)  # already revoked
    assert not users.auth.revoke_api_token(10_000)
    assert users.auth.find_token_user("a" * 64) is None
    assert users.auth.find_token_user("b" * 64) is not None


def test_set_password_hash_ends_sessions_and_revokes_all_but_service_tokens(users: Store) -> None:
    # Given Anna with an ordinary token, a service token, and Boss with a token
    anna, boss = users.auth.get_login("anna@example.com"), users.auth.get_login("boss@example.com")
    assert anna is not None and boss is not None
    users.auth.add_api_token(anna.id, "laptop", "1" * 64)
    users.auth.add_api_token(anna.id, "sync", "2" * 64, service=True)
    users.auth.add_api_token(boss.id, "cron", "3" * 64)
    # When Anna's password is set
    assert users.auth.set_password_hash("anna@example.com", "$argon2id$new")
    # Then her session generation moved on, her ordinary token is revoked, and the others still work
    after = users.auth.get_login("anna@example.com")
    assert after is not None and after.session_generation == anna.session_generation + 1
    assert users.auth.find_token_user("1" * 64) is None
    assert users.auth.find_token_user("2" * 64) is not None
    assert users.auth.find_token_user("3" * 64) is not None
    assert [t.revoked_at is not None for t in users.auth.list_api_tokens()] == [True, False, False]


def test_end_sessions_moves_the_generation_on_once(users: Store) -> None:
    anna = users.auth.get_login("anna@example.com")
    assert anna is not None
    assert users.auth.end_sessions(anna.id, anna.session_generation)
    assert not users.auth.end_sessions(anna.id, anna.session_generation)  # that generation has already ended
    assert not users.auth.end_sessions(10_000, 0)
    after = users.auth.get_login_by_id(anna.id)
    assert after is not None and after.session_generation == anna.session_generation + 1


def test_a_rehash_replaces_only_the_hash_it_was_made_from(users: Store) -> None:
    users.auth.set_password_hash("anna@example.com", "$argon2id$weak")
    anna = users.auth.get_login("anna@example.com")
    assert anna is not None
    users.auth.add_api_token(anna.id, "laptop", "4" * 64)

    assert users.auth.mark_password_rehashed(anna.id, "$argon2id$weak", "$argon2id$strong")
    after = users.auth.get_login("anna@example.com")
    assert after is not None
    assert (after.password_hash, after.session_generation) == ("$argon2id$strong", anna.session_generation)
    assert users.auth.find_token_user("4" * 64) is not None
    # A password set meanwhile wins over a late rehash of the old one
    assert not users.auth.mark_password_rehashed(anna.id, "$argon2id$weak", "$argon2id$other")


def test_tokens_carry_scopes_and_stop_at_their_expiry(users: Store) -> None:
    anna = users.auth.get_login("anna@example.com")
    assert anna is not None
    users.auth.add_api_token(anna.id, "intake", "5" * 64, scopes=["ingest", "directory", "ingest"])
    users.auth.add_api_token(anna.id, "old", "6" * 64, expires_at=utcnow() - timedelta(minutes=1))
    users.auth.add_api_token(anna.id, "week", "7" * 64, expires_at=utcnow() + timedelta(days=7), service=True)

    intake = users.auth.find_token_user("5" * 64)
    assert intake is not None and intake.scopes == frozenset({"ingest", "directory"})
    assert users.auth.find_token_user("6" * 64) is None
    assert users.auth.find_token_user("7" * 64) is not None
    listed = {t.name: t for t in users.auth.list_api_tokens()}
    assert listed["intake"].scopes == ("directory", "ingest")
    assert listed["intake"].expires_at is None and not listed["intake"].service
    expires = listed["week"].expires_at
    assert expires is not None and expires.tzinfo is not None and listed["week"].service
    with pytest.raises(ValueError, match="single words"):
        users.auth.add_api_token(anna.id, "bad", "8" * 64, scopes=["read write"])
    with pytest.raises(ValueError, match="single words"):
        users.auth.add_api_token(anna.id, "none", "9" * 64, scopes=[])


def test_token_hashes_are_unique(users: Store) -> None:
    anna = users.auth.get_login("anna@example.com")
    assert anna is not None
    users.auth.add_api_token(anna.id, "one", "d" * 64)
    with pytest.raises(StoreError, match="IntegrityError"):
        users.auth.add_api_token(anna.id, "two", "d" * 64)


def test_last_used_is_written_at_most_once_a_minute(users: Store) -> None:
    anna = users.auth.get_login("anna@example.com")
    assert anna is not None
    token_id = users.auth.add_api_token(anna.id, "ci", "e" * 64)
    assert _last_used(users, token_id) is None

    users.auth.find_token_user("e" * 64)
    first = _last_used(users, token_id)
    assert isinstance(first, datetime)
    users.auth.find_token_user("e" * 64)
    assert _last_used(users, token_id) == first  # within the minute: no write

    with users.engine.begin() as conn:  # Given the last use was two minutes ago
        conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=first - timedelta(minutes=2)))
    users.auth.find_token_user("e" * 64)
    later = _last_used(users, token_id)
    assert isinstance(later, datetime)
    assert later >= first  # written again: it had been set two minutes back


def test_list_api_tokens_shows_metadata_only(users: Store) -> None:
    anna = users.auth.get_login("anna@example.com")
    boss = users.auth.get_login("boss@example.com")
    assert anna is not None and boss is not None
    a = users.auth.add_api_token(anna.id, "laptop", "f" * 64)
    b = users.auth.add_api_token(boss.id, "cron", "0" * 64)
    users.auth.revoke_api_token(a)

    everything = users.auth.list_api_tokens()
    assert [(t.id, t.user_email, t.name) for t in everything] == [
        (a, "anna@example.com", "laptop"),
        (b, "boss@example.com", "cron"),
    ]
    assert everything[0].revoked_at is not None and everything[1].revoked_at is None
    assert everything[0].created_at.tzinfo is not None
    assert not any(hasattr(t, "token_hash") for t in everything)
    assert [t.id for t in users.auth.list_api_tokens("BOSS@example.com")] == [b]
    assert users.auth.list_api_tokens("nobody@example.com") == []


def test_a_secret_address_token_is_found_by_its_hash_and_replaced_at_once(users: Store) -> None:
    assert users.auth.find_user_by_assistant_token("a" * 64) is None
    assert not users.auth.has_assistant_token("anna@example.com")

    assert users.auth.set_assistant_token_hash("Anna@Example.com", "1" * 64)
    found = users.auth.find_user_by_assistant_token("1" * 64)
    assert found is not None and (found.email, found.team) == ("anna@example.com", "Sales PL")
    assert users.auth.has_assistant_token("anna@example.com")

    # Rotating: the old hash finds nobody from this commit on
    assert users.auth.set_assistant_token_hash("anna@example.com", "2" * 64)
    assert users.auth.find_user_by_assistant_token("1" * 64) is None
    assert users.auth.find_user_by_assistant_token("2" * 64) is not None
    assert not users.auth.set_assistant_token_hash("nobody@example.com", "3" * 64)


def test_two_users_cannot_share_a_secret_address_token(users: Store) -> None:
    users.auth.set_assistant_token_hash("anna@example.com", "4" * 64)

    with pytest.raises(StoreError):
        users.auth.set_assistant_token_hash("boss@example.com", "4" * 64)
