"""Measure forward unwrapping: ``python bench/forward_eval.py DIR`` and ``python bench/forward_eval.py --chains``.

Set 1, DIR: ``ID.eml`` and ``ID.json`` pairs (see ``shared/corpus/README.md`` for what ``expected`` means), labelled
for the *outermost* forwarded message. By default (``--via outermost``) each message is parsed by the linker's parser
and unwrapped by ``linker.unwrap.read_chain``, and its first level is compared; ``--via pipeline`` compares what
``mailassist explain`` files instead (the deepest external sender's message, which nested cases do not label), and
``--via parser`` runs the inline parser alone. Prints per-field accuracy, one line per failing case, and
``N passed, N failed``; exits 1 when any case fails.

``--hostile MIB`` times messages of MIB MiB that nest forwards as deep as their size allows (bounded work per level).

Set 2, ``--chains``: reply-versus-forward and nested chains, generated from templates (``forward_chains.py``) over mail
clients x languages x depth, each run through the whole pipeline (``plan_message``) with an organisation that has
users. Checks the kind (a reply is no forward), the original sender (the deepest external one), the chain's levels
(how each is carried) and that every level's people take part.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_failures

Explain = Callable[[bytes], dict[str, Any]]
#: The fields reported, in order; a case counts for a field only when its expectation names it.
FIELDS = ("forwarded", "subject", "body", "from", "to", "cc", "message", "date")


def via_parser(raw: bytes) -> dict[str, Any]:
    """The inline parser alone, shaped like ``explain_message``'s output (the part this script reads)."""
    from linker.explain import header_fields_json
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
    original = {**header_fields_json(found), "message_id": None, "body": found.body, "note": found.note}
    return {"forwarded": "inline", "original": original}


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


def via_outermost(raw: bytes) -> dict[str, Any]:
    """The linker's parser and unwrapping, the outermost forwarded message (what set 1 labels), shaped like
    ``explain_message``'s output (the part this script reads)."""
    from linker.explain import original_json
    from linker.parse import parse_message
    from linker.unwrap import read_chain

    chain = read_chain(parse_message(raw), parse=parse_message, is_internal=lambda address: False)
    found = chain.outermost
    if found is None:
        return {"forwarded": None, "original": None}
    return {"forwarded": found.forwarded, "original": original_json(found)}


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
    return print_failures(len(cases), failures)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path, nargs="?", help="directory of ID.eml + ID.json cases (set 1)")
    parser.add_argument(
        "--via", choices=("auto", "outermost", "pipeline", "parser"), default="auto", help="what set 1 evaluates"
    )
    parser.add_argument("--chains", action="store_true", help="evaluate set 2: generated replies and nested chains")
    parser.add_argument("--show", metavar="ID", help="with --chains: print one generated case's message and exit")
    parser.add_argument(
        "--hostile", metavar="MIB", type=int, help="time nested-forward messages of MIB MiB through the pipeline"
    )
    args = parser.parse_args(argv)
    if args.hostile:
        from _hostile_chains import measure_hostile

        return measure_hostile(args.hostile)
    if args.directory is None and not args.chains:
        parser.error("give a corpus DIR, --chains, or both")
    failed = 0
    if args.directory is not None:
        via = args.via
        if via == "auto":
            via = "outermost" if pipeline_available() else "parser"
        explain = {"outermost": via_outermost, "pipeline": via_pipeline, "parser": via_parser}[via]
        print(f"forward_eval: {args.directory} via {via}")
        failed += evaluate(args.directory, explain)
    if args.chains:
        from forward_chains import evaluate_chains, show_case

        if args.show:
            return show_case(args.show)
        if args.directory is not None:
            print()
        failed += evaluate_chains()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
