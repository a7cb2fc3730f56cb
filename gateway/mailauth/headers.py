"""The header section of a message as the checks read it: unfolded fields, bounded in size (attacker input)."""

from __future__ import annotations

#: Header bytes read from a message: a bigger header section gets DKIM, ARC and DMARC "permerror".
MAX_HEADER_BYTES = 256 * 1024


def header_fields(data: bytes) -> tuple[list[tuple[str, bytes]], bool]:
    """The unfolded header fields (lowercase name, raw value) of a message or header block, and whether the whole
    header section fits in :data:`MAX_HEADER_BYTES`. Lines without a colon are skipped."""
    whole = len(data) <= MAX_HEADER_BYTES
    lines = data.split(b"\n") if whole else data[:MAX_HEADER_BYTES].split(b"\n")[:-1]
    fields: list[tuple[str, list[bytes]]] = []
    complete = whole
    for raw_line in lines:
        line = raw_line.removesuffix(b"\r")
        if not line:
            complete = True
            break
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line)
            continue
        name, colon, value = line.partition(b":")
        if colon and name and not any(c <= 32 or c >= 127 for c in name):
            fields.append((name.decode("ascii").lower(), [value]))
    return [(name, b"".join(parts)) for name, parts in fields], complete


def as_text(value: bytes) -> str:
    """Header or record bytes as text: what is not UTF-8 becomes U+FFFD (the checks compare ASCII only)."""
    return value.decode("utf-8", "replace")
