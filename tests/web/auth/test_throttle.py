"""Login backoff: failures slow the next attempt per email and per address, within bounds."""

from __future__ import annotations

from starlette.testclient import TestClient

from store import Store
from tests.web.auth.support import Clock, post_login
from web.app import create_app
from web.auth.throttle import Backoff, LoginThrottle


def test_failures_back_off_and_the_right_password_works_once_the_wait_is_over(client: TestClient, clock: Clock) -> None:
    # Given five free failures, then a sixth
    for _ in range(6):
        assert post_login(client, password="guess guess").status_code == 401
    # Then even the right password waits, for a second only
    throttled = post_login(client)
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert "Too many failed logins. Try again in 1 second." in throttled.text
    # And another user from the same address is not held back by Anna's failures
    assert post_login(client, email="boss@example.com").status_code == 303
    client.cookies.clear()

    clock.now += 1  # When the second has passed
    assert post_login(client).status_code == 303


def test_each_further_failure_doubles_the_wait_up_to_the_cap(clock: Clock) -> None:
    throttle = LoginThrottle(pair=Backoff(free=2, first=1.0, cap=8.0), clock=clock)
    waits = []
    for _ in range(8):
        throttle.add_failure("anna@example.com", "192.0.2.1")
        waits.append(throttle.retry_after("anna@example.com", "192.0.2.1"))
    assert waits == [None, None, 1, 2, 4, 8, 8, 8]
    clock.now += 8
    assert throttle.retry_after("anna@example.com", "192.0.2.1") is None


def test_failures_are_forgotten_after_an_hour_of_quiet(clock: Clock) -> None:
    throttle = LoginThrottle(pair=Backoff(free=1), clock=clock)
    for _ in range(5):
        throttle.add_failure("anna@example.com", "192.0.2.1")
    clock.now += 3600
    throttle.add_failure("anna@example.com", "192.0.2.1")
    assert throttle.retry_after("anna@example.com", "192.0.2.1") is None  # a first failure again: free


def test_an_attacker_elsewhere_keeps_the_user_out_for_a_minute_at_most(store: Store, clock: Clock) -> None:
    app = create_app(store, login_throttle=LoginThrottle(clock=clock))

    def at(address: str) -> TestClient:
        return TestClient(app, follow_redirects=False, client=(address, 4000))

    # Given Anna logged in from her office once
    with at("198.51.100.7") as office:
        assert post_login(office).status_code == 303
    # And an attacker guessing at her password from twenty-five addresses, waiting out every Retry-After
    failures = 0
    for n in range(25):
        with at(f"203.0.113.{n}") as attacker:
            response = post_login(attacker, password="guess guess")
            if response.status_code == 429:
                clock.now += int(response.headers["retry-after"])
                response = post_login(attacker, password="guess guess")
            assert response.status_code == 401
            failures += 1
    assert failures == 25
    # Then from a new address Anna waits a minute at most
    with at("192.0.2.55") as cafe:
        throttled = post_login(cafe)
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["retry-after"]) <= 60
    # And from her office, where she logged in before, she logs in at once
    with at("198.51.100.7") as office:
        assert post_login(office).status_code == 303


def test_one_address_trying_many_accounts_backs_off(store: Store, clock: Clock) -> None:
    throttle = LoginThrottle(address=Backoff(free=3), clock=clock)
    app = create_app(store, login_throttle=throttle)
    with TestClient(app, follow_redirects=False, client=("203.0.113.7", 4000)) as client:
        for n in range(4):
            assert post_login(client, email=f"guess{n}@example.com").status_code == 401
        assert post_login(client).status_code == 429
    with TestClient(app, follow_redirects=False, client=("198.51.100.1", 4000)) as elsewhere:
        assert post_login(elsewhere).status_code == 303


def test_a_successful_login_clears_the_failures_of_the_email(client: TestClient) -> None:
    for _ in range(5):
        post_login(client, password="guess guess")
    assert post_login(client).status_code == 303
    client.cookies.clear()
    for _ in range(5):
        assert post_login(client, password="guess guess").status_code == 401
    assert post_login(client).status_code == 303


def test_throttle_memory_is_bounded(clock: Clock) -> None:
    throttle = LoginThrottle(max_keys=10, clock=clock)
    for n in range(100):
        throttle.add_failure(f"user{n}@example.com", f"10.0.0.{n}")
        throttle.add_success(f"user{n}@example.com", f"10.0.0.{n}")
    assert len(throttle._failures) <= 10
    assert len(throttle._known) <= 10
