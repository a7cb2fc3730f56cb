"""Helpers the viewer access tests share: the login password, the CSRF token of a page, and a form login."""

from __future__ import annotations

import re

import httpx2
from starlette.testclient import TestClient

PASSWORD = "correct horse battery"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)


def post_login(
    client: TestClient, email: str = "anna@example.com", password: str = PASSWORD, **extra: str
) -> httpx2.Response:
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf(client), **extra})
