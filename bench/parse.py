"""Message parsing: linker.parse's flanker reader against its stdlib ``email`` reader, side by side.

Both go through the same assembly (bodies, charsets, attachments), so the ratio is the cost of the parser itself.
Messages: the forward-dev corpus and ``tests/fixtures/parse`` (real clients' output, some broken on purpose), then
generated messages with one attachment each of 1 KiB to 20 MiB (``--quick``: up to 1 MiB). For each set it prints
msg/s (and MiB/s) and how many messages each reader raised on.

Sanity (checked in every mode, exit 1 on failure): ``linker.parse.parse_message``, flanker with the stdlib as its
fallback, reads every message, and each generated attachment comes back whole (size and SHA-256).

Usage: ``python bench/parse.py [CORPUS_DIR] [--quick]``. The last line is the headline ratio.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from linker import parse
from linker.model import ParsedMessage

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "forward-dev"
#: Attachment sizes of the generated messages (``--quick`` keeps those up to 1 MiB).
SIZES = (1 << 10, 64 << 10, 1 << 20, 5 << 20, 20 << 20)
QUICK_MAX = 1 << 20

Reader = Callable[[bytes], ParsedMessage]


def with_flanker(raw: bytes) -> ParsedMessage:
    """The flanker reader, with no stdlib fallback."""
    context = parse.Context(raw)
    return parse.assemble(parse._read_with_flanker(context, parse.load_flanker()), context)


def with_email(raw: bytes) -> ParsedMessage:
    """The stdlib reader, as used when flanker fails."""
    context = parse.Context(raw)
    return parse.assemble(parse._read_with_email(context), context)


def generated(size: int) -> bytes:
    """A Thunderbird-style message with a note and one PDF-ish attachment of ``size`` bytes."""
    data = random.Random(size).randbytes(size)
    return (
        b"From: =?UTF-8?Q?Pawe=C5=82_Wi=C5=9Bniewski?= <pawel@meblex.pl>\r\nTo: zuzana@novak-stavby.cz\r\n"
        b"Subject: =?UTF-8?Q?Oferta_=E2=80=93_za=C5=82=C4=85cznik?=\r\nDate: Mon, 27 May 2024 10:15:00 +0200\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "Dzień dobry, w załączeniu oferta.\r\n".encode()
        + b'--b\r\nContent-Type: application/pdf; name="oferta.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )


def run(reader: Reader, messages: list[bytes], rounds: int) -> tuple[float, int]:
    """Seconds for ``rounds`` passes over ``messages``, and how many messages the reader raised on (per pass)."""
    failures = 0
    start = time.perf_counter()
    for index in range(rounds):
        for raw in messages:
            try:
                reader(raw)
            except Exception:
                failures += index == 0
    return time.perf_counter() - start, failures


class SanityError(Exception):
    """The parse adapter lost a message or an attachment: the figures would be meaningless."""


def check_adapter(raw: bytes, attachment: bytes | None = None) -> None:
    """``parse_message`` (flanker, then the stdlib fallback) reads ``raw``, and ``attachment`` comes back whole."""
    try:
        message = parse.parse_message(raw)
    except Exception as exc:
        raise SanityError(f"parse_message raised {type(exc).__name__}: {exc}") from exc
    if attachment is not None:
        digest = hashlib.sha256(attachment).hexdigest()
        found = [(a.size, a.sha256) for a in message.attachments]
        if (len(attachment), digest) not in found:
            raise SanityError(f"the {len(attachment)}-byte attachment came back as {found}")


def main() -> int:
    """Print msg/s and failures for both readers on the corpus and on generated attachments."""
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    options.add_argument("--quick", action="store_true", help="one pass, attachments up to 1 MiB: checks the script")
    args = options.parse_args()

    corpus = [path.read_bytes() for path in sorted(args.corpus.glob("*.eml"))] if args.corpus.is_dir() else []
    fixtures = sorted((Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "parse").glob("*.eml"))
    corpus += [path.read_bytes() for path in fixtures]
    rounds = 1 if args.quick else 20
    parse.parse_message(b"From: warm@up.pl\r\n\r\nx")  # import flanker outside the timings

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus")
    print(f"corpus: {len(corpus)} messages from {args.corpus} and tests/fixtures/parse, {rounds} passes")
    for raw in corpus:
        check_adapter(raw)
    results = {}
    for name, reader in (("flanker", with_flanker), ("email", with_email)):
        seconds, failures = run(reader, corpus, rounds)
        results[name] = len(corpus) * rounds / seconds
        print(f"  {name:8} {results[name]:9.0f} msg/s   raised on {failures}/{len(corpus)}")

    print("generated: one message per size, a note and one base64 attachment")
    for size in [s for s in SIZES if not args.quick or s <= QUICK_MAX]:
        data = random.Random(size).randbytes(size)
        raw = generated(size)
        check_adapter(raw, data)
        passes = 1 if size > (1 << 20) else 3 if args.quick else 20
        line = [f"{_size_label(size):>7} ({len(raw) / (1 << 20):6.2f} MiB):"]
        for name, reader in (("flanker", with_flanker), ("email", with_email)):
            seconds, failures = run(reader, [raw], passes)
            rate = passes / seconds
            line.append(f"{name} {rate:8.1f} msg/s {len(raw) * rate / (1 << 20):6.1f} MiB/s raised {failures}/1")
        print("  " + "   ".join(line))

    print(f"headline: flanker/email msg/s on the corpus = {results['flanker'] / results['email']:.2f}")
    return 0


def _size_label(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SanityError as exc:
        print(f"sanity check failed: {exc}", file=sys.stderr)
        sys.exit(1)
