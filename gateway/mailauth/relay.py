"""A trusted relay's Authentication-Results (RFC 8601) read as our own checks: the relay did the DNS work. Its
header is attacker input until its authserv-id says which relay wrote it, so the reader is bounded and tolerant."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.mailauth.headers import as_text, header_fields
from gateway.mailauth.resolver import MAX_DOMAIN_LENGTH, ascii_domain
from gateway.mailauth.results import METHODS, RESULTS, AuthResults, Check, short

#: At most this many checks are read from a relay's Authentication-Results.
MAX_RELAY_CHECKS = 50


def relay_results(header_block: bytes, authserv_id: str) -> AuthResults | None:
    """The results in the topmost Authentication-Results header(s) whose authserv-id is ``authserv_id`` (any case),
    as ``source="relay"``; ``None`` when there is none. Several headers count only while they follow one another
    directly (a relay that adds one per milter); any other header between them ends the run, so a forged one
    further down is ignored. ``authserv_id=""`` matches the headers that carry no authserv-id (Microsoft 365
    writes none)."""
    wanted = authserv_id.strip().lower()
    fields, _complete = header_fields(header_block)
    checks: list[Check] | None = None
    for name, value in fields:
        if checks is not None and len(checks) >= MAX_RELAY_CHECKS:
            break
        parsed = _parse_authres(as_text(value)) if name == "authentication-results" else None
        if parsed is None or parsed[0].lower() != wanted:
            if checks is not None:
                break
            continue
        checks = (checks or []) + parsed[1][: MAX_RELAY_CHECKS - len(checks or [])]
    if checks is None:
        return None
    return AuthResults(tuple(checks), "relay")


def _parse_authres(value: str) -> tuple[str, list[Check]] | None:
    """An Authentication-Results value (RFC 8601 §2.2) as its authserv-id and its checks of :data:`METHODS`."""
    segments = _split_results(value)
    head_pairs, _ = _pairs(_tokens(segments[0]))
    if head_pairs:  # no authserv-id: the first segment is already a result
        authserv_id = ""
    else:
        words = [text for kind, text in _tokens(segments[0]) if kind in ("word", "quoted")]
        if not words:
            return None
        authserv_id, segments = words[0], segments[1:]
    checks = []
    for segment in segments[:MAX_RELAY_CHECKS]:
        check = _relay_check(*_pairs(_tokens(segment)))
        if check is not None:
            checks.append(check)
    return authserv_id, checks


def _split_results(value: str) -> list[str]:
    """``value`` split at each ``;`` outside quoted strings and comments."""
    parts, start, depth, quoted, escaped = [], 0, 0, False, False
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"' and not depth:
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch == ";" and not depth:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _tokens(text: str) -> list[tuple[str, str]]:
    """Words, quoted strings (unquoted), comments (without their parentheses) and ``=`` of one result."""
    tokens: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            content, i = _enclosed(text, i + 1, ")")
            tokens.append(("comment", content.strip()))
        elif ch == '"':
            content, i = _enclosed(text, i + 1, '"')
            tokens.append(("quoted", content))
        elif ch == "=":
            tokens.append(("=", ch))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '()"=':
                i += 1
            tokens.append(("word", text[start:i]))
    return tokens


def _enclosed(text: str, i: int, close: str) -> tuple[str, int]:
    """The content of a comment (nested ones included) or quoted string that starts at ``i``, unescaped, and the
    index after its end."""
    chars: list[str] = []
    depth = 1
    while i < len(text):
        c = text[i]
        i += 1
        if c == "\\" and i < len(text):
            chars.append(text[i])
            i += 1
            continue
        if c == "(" and close == ")":
            depth += 1
        elif c == close:
            depth -= 1
            if not depth:
                break
        chars.append(c)
    return "".join(chars), i


def _pairs(tokens: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``key=value`` pairs of one result, in order, and its comments."""
    pairs: list[tuple[str, str]] = []
    comments: list[str] = []
    key: str | None = None
    expect_value = False
    for kind, text in tokens:
        if kind == "comment":
            comments.append(text)
        elif expect_value and kind in ("word", "quoted") and key is not None:
            pairs.append((key, text))
            key, expect_value = None, False
        elif kind == "=":
            expect_value = key is not None
        else:
            key, expect_value = (text if kind == "word" else None), False
    return pairs, comments


def _relay_check(pairs: Sequence[tuple[str, str]], comments: Sequence[str]) -> Check | None:
    """One resinfo (``method=result reason=... ptype.property=value``) as a check, or ``None`` when it is not one
    of :data:`METHODS`."""
    if not pairs:
        return None
    method = pairs[0][0].partition("/")[0].lower()
    if method not in METHODS:
        return None
    word = pairs[0][1].lower()
    result = {"hardfail": "fail"}.get(word, word)
    props: dict[str, str] = {}
    reason = ""
    for name, value in pairs[1:]:
        key = name.lower()
        if key == "reason":
            reason = reason or value
        elif "." in key:
            props.setdefault(key, value)
    detail = reason or (comments[0] if comments else "")
    if result not in RESULTS:
        result, detail = "neutral", f"reported {word!r}" + (f": {detail}" if detail else "")
    if method == "dkim":
        domain = _relay_domain(props.get("header.d") or props.get("header.i"))
    elif method == "spf":
        domain = _relay_domain(props.get("smtp.mailfrom") or props.get("smtp.helo"))
    elif method == "dmarc":
        domain = _relay_domain(props.get("header.from"))
    else:
        domain = _relay_domain(props.get("header.d"))
    selector = props.get("header.s")
    return Check(method, result, domain, selector and selector[:MAX_DOMAIN_LENGTH].lower(), short(detail))


def _relay_domain(value: str | None) -> str | None:
    """The domain of a property value (an address, ``@domain`` or a domain), if it can be one."""
    if not value:
        return None
    return ascii_domain(value.rpartition("@")[2])
