"""Measure inline-forward unwrapping against a labelled corpus: ``python bench/forward_eval.py DIR``.

DIR holds ``ID.eml`` and ``ID.json`` pairs (see ``shared/corpus/README.md`` for what ``expected`` means). Each
message goes through ``linker.pipeline.explain_message`` when it exists, else straight through the inline parser
(``--via`` forces one). Prints per-field accuracy, one line per failing case, and ``N passed, N failed``; exits 1 when
any case fails.
"""

from __future__ import annotations

import argparse
import email
import json
import sys
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

Explain = Callable[[bytes], dict[str, Any]]
#: The fields reported, in order; a case counts for a field only when its expectation names it.
FIELDS = ("forwarded", "subject", "body", "from", "to", "cc", "message", "date")


def via_parser(raw: bytes) -> dict[str, Any]:
    """The inline parser alone, shaped like ``explain_message``'s output (the part this script reads)."""
    from linker.forwards.html import html_to_text
    from linker.forwards.inline import find_inline_forward

    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain", "html"))
    text = "" if part is None else str(part.get_content())
    if part is not None and part.get_content_type() == "text/html":
        text = html_to_text(text)
    found = find_inline_forward(text, outer_subject=message["subject"])
    if found is None:
        return {"forwarded": None, "original": None}

    def mailbox(m: Any) -> dict[str, str | None]:
        return {"name": m.name, "address": m.address}

    return {
        "forwarded": "inline",
        "original": {
            "from": mailbox(found.from_) if found.from_ else None,
            "to": [mailbox(m) for m in found.to],
            "cc": [mailbox(m) for m in found.cc],
            "date": found.date.isoformat() if found.date else None,
            "subject": found.subject,
            "message_id": None,
            "body": found.body,
            "note": found.note,
        },
    }


def _pipeline_explain() -> Callable[..., dict[str, Any]] | None:
    """``explain_message`` from ``linker.pipeline`` (or ``linker.explain``, where it is defined), if importable."""
    import importlib

    for module_name in ("linker.pipeline", "linker.explain"):
        try:
            module = importlib.import_module(module_name)
        except Exception:  # a half-built pipeline must not stop the evaluation
            continue
        explain = getattr(module, "explain_message", None)
        if callable(explain):
            return explain  # type: ignore[no-any-return]
    return None


def via_pipeline(raw: bytes) -> dict[str, Any]:
    """The whole linker pipeline with default settings, as ``mailassist explain`` runs it."""
    from linker.pipeline import default_settings

    explain = _pipeline_explain()
    assert explain is not None, "linker.pipeline.explain_message is not available"
    result: dict[str, Any] = explain(raw, default_settings())
    return result


def pipeline_available() -> bool:
    """Whether the pipeline's ``explain_message`` and ``default_settings`` can be imported."""
    try:
        from linker.pipeline import default_settings  # noqa: F401
    except Exception:  # a half-built pipeline must not stop the evaluation
        return False
    return _pipeline_explain() is not None


def _mailboxes(value: Any) -> list[dict[str, Any]]:
    return [{"name": m.get("name"), "address": m.get("address")} for m in value or []]


def check(result: dict[str, Any], expected: dict[str, Any]) -> dict[str, str | None]:
    """Each checked field mapped to ``None`` (right) or a one-line reason (wrong)."""
    found = result.get("forwarded") is not None and result.get("original") is not None
    out: dict[str, str | None] = {}
    out["forwarded"] = (
        None if found == expected["forwarded"] else f"forwarded={found}, expected {expected['forwarded']}"
    )
    if not expected["forwarded"]:
        return out
    email_exp = expected.get("email", {})
    original: dict[str, Any] = result.get("original") or {}
    missing = None if found else "no forward found"

    def field(name: str, ok: bool, got: Any) -> None:
        out[name] = missing or (None if ok else f"{name}={got!r:.160}")

    if "subject" in email_exp:
        field("subject", original.get("subject") == email_exp["subject"], original.get("subject"))
    body = (original.get("body") or "").strip()
    if "body" in email_exp:
        field("body", body == email_exp["body"].strip(), body)
    elif "body_startswith" in email_exp:
        field("body", body.startswith(email_exp["body_startswith"]), body)
    if "from" in email_exp:
        field("from", original.get("from") == email_exp["from"], original.get("from"))
    to, cc = _mailboxes(original.get("to")), _mailboxes(original.get("cc"))
    if "to_prefix" in email_exp or "to_prefix_addresses" in email_exp:
        want = email_exp.get("to_prefix")
        addresses = email_exp.get("to_prefix_addresses")
        ok = (want is None or to[: len(want)] == want) and (
            addresses is None or [m["address"] for m in to[: len(addresses)]] == addresses
        )
        field("to", ok, to)
    if "cc_prefix" in email_exp or "cc" in email_exp:
        want = email_exp.get("cc_prefix")
        exact = email_exp.get("cc")
        ok = (want is None or cc[: len(want)] == want) and (exact is None or cc == exact)
        field("cc", ok, cc)
    if "message" in expected:
        field("message", original.get("note") == expected["message"], original.get("note"))
    if "date" in email_exp:
        field("date", bool(original.get("date")), original.get("date"))
    return out


def evaluate(directory: Path, explain: Explain) -> int:
    """Run every case in ``directory``; print the report; return the number of failed cases."""
    cases = sorted(directory.glob("*.eml"))
    totals = {name: [0, 0] for name in FIELDS}
    failures: list[str] = []
    for path in cases:
        expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["expected"]
        try:
            result = explain(path.read_bytes())
        except Exception as exc:  # one broken case is a failure to report, not a crash
            result = {"forwarded": None, "original": None}
            failures.append(f"{path.stem}: error {type(exc).__name__}: {exc}")
            continue
        verdicts = check(result, expected)
        for name, reason in verdicts.items():
            totals[name][1] += 1
            totals[name][0] += reason is None
        wrong = [reason for reason in verdicts.values() if reason]
        if wrong:
            failures.append(f"{path.stem}: {'; '.join(dict.fromkeys(wrong))}")
    for name in FIELDS:
        good, seen = totals[name]
        if seen:
            print(f"{name:<10}{good:>4}/{seen:<4} {100.0 * good / seen:5.1f}%")
    if failures:
        print("\nfailing cases:")
        for line in failures:
            print(f"  {line}")
    print(f"{len(cases) - len(failures)} passed, {len(failures)} failed")
    return len(failures)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path, help="directory of ID.eml + ID.json cases")
    parser.add_argument("--via", choices=("auto", "pipeline", "parser"), default="auto", help="what to evaluate")
    args = parser.parse_args(argv)
    via = args.via
    if via == "auto":
        via = "pipeline" if pipeline_available() else "parser"
    explain = via_pipeline if via == "pipeline" else via_parser
    print(f"forward_eval: {args.directory} via {via}")
    return 1 if evaluate(args.directory, explain) else 0


if __name__ == "__main__":
    sys.exit(main())
