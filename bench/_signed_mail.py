"""The mail of ``bench/auth.py``: a local DNS zone that publishes example.com's DKIM key, SPF and DMARC, and
messages DKIM-signed with that key in advance (signing is the sender's cost, not the server's)."""

from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dkim
from _smtp import make_message

from tests.dnsserver import Zone

#: Bytes of every message, its DKIM-Signature header included.
MESSAGE_SIZE = 4096
DOMAIN = "example.com"
SELECTOR = "bench"
KEY_NAME = f"{SELECTOR}._domainkey.{DOMAIN}"


def signed_zone() -> tuple[Zone, bytes]:
    """The zone the gateway's DNS answers from (a 2048-bit DKIM key, SPF for 127.0.0.1, DMARC ``p=reject``), and
    the private key to sign with."""
    zone = Zone()
    key = zone.add_dkim_key(DOMAIN, SELECTOR)
    zone.add_spf(DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
    zone.add_dmarc(DOMAIN, "v=DMARC1; p=reject")
    return zone, key


def _sign(raw: bytes, key: bytes) -> bytes:
    return bytes(dkim.sign(raw, SELECTOR.encode(), DOMAIN.encode(), key)) + raw


def signed_messages(count: int, tag: str, key: bytes, pool: ProcessPoolExecutor) -> list[bytes]:
    """``count`` unique messages from the registered user, each ``MESSAGE_SIZE`` bytes with its DKIM-Signature
    (relaxed/simple, dkimpy's defaults), signed on every core."""
    overhead = 0
    for _ in range(2):  # the signature's folding depends a little on the message: measure it at the final size
        overhead = len(_sign(make_message(0, MESSAGE_SIZE - overhead, tag=tag), key)) - (MESSAGE_SIZE - overhead)
    unsigned = [make_message(i, MESSAGE_SIZE - overhead, tag=tag) for i in range(count)]
    return list(pool.map(functools.partial(_sign, key=key), unsigned, chunksize=max(1, count // 16)))


def source_file(raw: bytes, directory: Path) -> Path:
    """``raw`` as smtp-source's ``-F`` wants it: LF line ends (it sends each line with CRLF; the empty line it
    adds at the end changes no DKIM body hash: trailing empty lines are canonicalised away)."""
    path = directory / "signed.eml"
    path.write_bytes(raw.replace(b"\r\n", b"\n"))
    return path


def sign_all(key: bytes, warmup: int, count: int, rounds: int) -> tuple[list[bytes], list[list[bytes]], bytes]:
    """The warm-up messages, each round's messages and smtp-source's one message, all signed."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        warm = signed_messages(warmup, "warm", key, pool)
        sets = [signed_messages(count, f"r{n}", key, pool) for n in range(rounds)]
        single = signed_messages(1, "source", key, pool)[0]
    sizes = sorted({len(m) for s in sets for m in s})
    print(
        f"mail: {sum(len(s) for s in sets)} unique messages of {'-'.join(map(str, sizes[:: max(1, len(sizes) - 1)]))} "
        "bytes, DKIM-Signature "
        f"(2048-bit RSA, d={DOMAIN} s={SELECTOR}) included; signed in advance in "
        f"{time.perf_counter() - started:.0f} s, not measured"
    )
    return warm, sets, single
