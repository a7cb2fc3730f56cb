"""Fixtures for the webhook tests: a local receiver that records what it is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mailassist.webhooks.support import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
