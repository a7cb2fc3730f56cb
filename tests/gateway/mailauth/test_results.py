"""What the checks report (``gateway.mailauth.results``), as data."""

from __future__ import annotations

import pytest

from gateway.mailauth import AuthResults, Check


def test_results_round_trip_through_json() -> None:
    results = AuthResults(
        (
            Check("dkim", "pass", "example.com", "sel"),
            Check("spf", "temperror", "example.com", detail="DNS timeout"),
            Check("arc", "none", None),
        ),
        "checked",
    )
    assert AuthResults.from_json(results.to_json()) == results
    assert results.passing("dkim") == (results.checks[0],)
    assert results.of("spf") == (results.checks[1],)
    assert results.temporary
    bad_documents: list[object] = [[], {"source": "checked"}, {"source": "x", "checks": [{"method": "dkim"}]}]
    for bad in bad_documents:
        with pytest.raises(ValueError, match=r"malformed|JSON object"):
            AuthResults.from_json(bad)
