"""Fixtures for the gateway's defence tests: a spy on the refusals a gateway counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.gateway.conftest import Running


@pytest.fixture
def refusals(run_gateway: Any) -> Callable[[Running], list[tuple[str, str]]]:
    """``watch(gw)``: from then on, the ``(reply, reason)`` of every refusal the gateway counts."""

    def watch(gw: Running) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        handler = gw.server.handler
        count = handler.count_refusal

        def spy(reply: str, reason: str) -> None:
            seen.append((reply, reason))
            count(reply, reason)

        handler.count_refusal = spy  # type: ignore[method-assign]
        return seen

    return watch
