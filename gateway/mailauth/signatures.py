"""DKIM signatures and ARC chains verified through dkimpy: one check per DKIM-Signature, one for the ARC chain.
dkimpy reads the message and raises on odd input; here that becomes the check's ``permerror`` or ``fail``, and a
key lookup that ran out of time its ``temperror``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from gateway.mailauth.keys import KeyCache, KeyFetch
from gateway.mailauth.resolver import MAX_DOMAIN_LENGTH, Lookups, dns_name
from gateway.mailauth.results import Check, short

#: RFC 8617 §4.2.1: an ARC chain longer than this is failed.
ARC_INSTANCE_LIMIT = 50
_ARC_HEADERS = frozenset({"arc-seal", "arc-message-signature", "arc-authentication-results"})


class _Notes:
    """A logger for dkimpy: keeps its error messages for the check's detail instead of logging sender input."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def debug(self, *args: object, **kwargs: object) -> None:
        """Dropped."""

    info = warning = debug

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        try:
            self.errors.append(str(msg) % args if args else str(msg))
        except (TypeError, ValueError):
            self.errors.append(str(msg))

    def isEnabledFor(self, level: int) -> bool:
        return False


def _tags(value: bytes) -> dict[bytes, bytes] | None:
    try:
        tags: dict[bytes, bytes] = parse_tag_value(value)
    except (InvalidTagValueList, ValueError):
        return None
    return tags


def _tag_text(tags: Mapping[bytes, bytes], key: bytes) -> str | None:
    value = tags.get(key)
    if value is None:
        return None
    text = "".join(value.decode("ascii", "replace").split()).lower()
    return text[:MAX_DOMAIN_LENGTH] or None


def check_dkim(
    raw: bytes, fields: Sequence[tuple[str, bytes]], lookups: Lookups, keys: KeyCache, *, max_signatures: int
) -> list[Check]:
    """One check per DKIM-Signature (the first ``max_signatures``), or a single ``none``."""
    if not any(name == "dkim-signature" for name, _ in fields):
        return [Check("dkim", "none", None, detail="no signature")]
    notes = _Notes()
    try:
        verifier = dkim.DKIM(raw, logger=notes)
    except Exception:  # dkimpy's header parser raises on a line it cannot split: nothing is verifiable then
        return [Check("dkim", "permerror", None, detail="malformed header section")]
    # dkimpy's own header list, so that idx means the same signature to it and to us.
    signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    return [
        _verify_dkim(verifier, idx, value, KeyFetch(lookups, keys), notes)
        for idx, value in enumerate(signatures[:max_signatures])
    ]


def _verify_dkim(verifier: Any, idx: int, value: bytes, fetch: KeyFetch, notes: _Notes) -> Check:
    """One DKIM-Signature (the ``idx``-th) as a check, its key fetched by ``fetch`` (one per signature)."""
    tags = _tags(value) or {}
    domain, selector = _tag_text(tags, b"d"), _tag_text(tags, b"s")
    if domain is None or selector is None:
        return Check("dkim", "permerror", domain, selector, "malformed signature")
    if dns_name(f"{selector}._domainkey.{domain}") is None:
        return Check("dkim", "permerror", domain, selector, "invalid d= or s=")
    notes.errors.clear()
    try:
        valid = verifier.verify(idx=idx, dnsfunc=fetch)
    except Exception as exc:  # dkimpy raises odd exceptions on odd input; a bad message must not stop the gateway
        return _dkim_error(exc, fetch, domain, selector)
    if fetch.temporary:
        return Check("dkim", "temperror", domain, selector, fetch.temporary)
    if valid and b"l" in tags:
        # l= signs only the first bytes of the body: anyone may append text to a signed message and keep the pass,
        # so it vouches for nothing here (RFC 8601 "policy": valid, but refused by local policy).
        return Check("dkim", "policy", domain, selector, "l= leaves the rest of the body unsigned")
    if valid:
        return Check("dkim", "pass", domain, selector, signed=_signed_headers(tags))
    if fetch.missing:
        return Check("dkim", "permerror", domain, selector, "no key for signature")
    if notes.errors:
        return Check("dkim", "permerror", domain, selector, short(notes.errors[-1]))
    return Check("dkim", "fail", domain, selector, "signature did not verify")


def _dkim_error(exc: Exception, fetch: KeyFetch, domain: str, selector: str) -> Check:
    """A DKIM verification that raised: ``temperror`` when its key lookup could not be answered in time (the
    sender is then told to retry: 451), else what the message got wrong."""
    if fetch.temporary:
        return Check("dkim", "temperror", domain, selector, fetch.temporary)
    if isinstance(exc, dkim.ValidationError):
        text = str(exc).split(" (")[0]
        result = "fail" if text.startswith(("body hash mismatch", "x= value is past")) else "permerror"
        return Check("dkim", result, domain, selector, short(text))
    if isinstance(exc, dkim.DKIMException):
        return Check("dkim", "permerror", domain, selector, short(str(exc)))
    return Check("dkim", "permerror", domain, selector, f"unverifiable ({type(exc).__name__})")


def _signed_headers(tags: Mapping[bytes, bytes]) -> tuple[str, ...]:
    """The header names in a signature's ``h=`` tag, lower case, in order and as often as listed."""
    value = b"".join(tags.get(b"h", b"").split()).decode("ascii", "replace").lower()
    return tuple(name for name in value.split(":") if name)


def check_arc(
    raw: bytes, fields: Sequence[tuple[str, bytes]], lookups: Lookups, keys: KeyCache, *, max_arc_sets: int
) -> Check:
    """The ARC chain's validation (RFC 8617 §5.2), named by its latest seal's ``d=`` and ``s=``; a chain of more
    than ``max_arc_sets`` sets fails unread."""
    if not any(name in _ARC_HEADERS for name, _ in fields):
        return Check("arc", "none", None)
    latest = _latest_seal(fields)
    if latest is None:
        return Check("arc", "fail", None, detail="cv=fail: no readable ARC-Seal")
    instance, domain, selector = latest
    if instance > max_arc_sets:
        return Check("arc", "fail", domain, selector, f"cv=fail i={instance}: too many ARC sets")
    fetch, notes = KeyFetch(lookups, keys), _Notes()
    try:
        cv, _sets, reason = dkim.arc_verify(raw, logger=notes, dnsfunc=fetch)
    except Exception as exc:  # dkimpy raises odd exceptions on odd ARC sets
        if fetch.temporary:  # a key lookup that timed out raises out of dkimpy: the sender is to retry
            return Check("arc", "temperror", domain, selector, f"i={instance}: {fetch.temporary}")
        return Check("arc", "fail", domain, selector, f"cv=fail i={instance}: malformed ({type(exc).__name__})")
    if fetch.temporary:
        return Check("arc", "temperror", domain, selector, f"i={instance}: {fetch.temporary}")
    if cv == dkim.CV_Pass:
        signed = _message_signature_headers(fields, instance)
        return Check("arc", "pass", domain, selector, f"cv=pass i={instance}", signed=signed)
    if cv == dkim.CV_None:
        return Check("arc", "none", domain, selector, f"i={instance}: {short(str(reason))}")
    return Check("arc", "fail", domain, selector, short(f"cv=fail i={instance}: {reason}"))


def _message_signature_headers(fields: Sequence[tuple[str, bytes]], instance: int) -> tuple[str, ...]:
    """The ``h=`` of the ARC-Message-Signature of ``instance`` (empty when there is not exactly one)."""
    found = []
    for name, value in fields:
        tags = _tags(value) if name == "arc-message-signature" else None
        if tags is not None and tags.get(b"i", b"").strip() == str(instance).encode():
            found.append(tags)
    return _signed_headers(found[0]) if len(found) == 1 else ()


def _latest_seal(fields: Sequence[tuple[str, bytes]]) -> tuple[int, str | None, str | None] | None:
    """The highest ``i=`` among the ARC-Seals, with that seal's ``d=`` and ``s=``."""
    best: tuple[int, str | None, str | None] | None = None
    for name, value in fields:
        tags = _tags(value) if name == "arc-seal" else None
        instance = tags.get(b"i", b"").strip() if tags else b""
        if tags is None or not instance.isdigit() or len(instance) > 6:
            continue
        if best is None or int(instance) > best[0]:
            best = (int(instance), _tag_text(tags, b"d"), _tag_text(tags, b"s"))
    return best
