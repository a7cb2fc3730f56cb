"""Message parsing: linker.parse's flanker reader against its stdlib ``email`` reader, side by side.

Both go through the same assembly (bodies, charsets, attachments), so the ratio is the cost of the parser itself.
Usage: ``python bench/parse.py [CORPUS_DIR] [--quick]``. The last line is the headline ratio.
"""

from __future__ import annotations

import argparse
import base64
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
#: Attachment sizes of the generated messages (``--quick`` keeps the first two).
SIZES = (1 << 10, 64 << 10, 1 << 20, 20 << 20)

Reader = Callable[[bytes], ParsedMessage]


def with_flanker(raw: bytes) -> ParsedMessage:
    """The flanker reader, with no stdlib fallback."""
    context = parse._Context(raw)
    return parse._assemble(parse._read_with_flanker(context, parse._flanker()), context)


def with_email(raw: bytes) -> ParsedMessage:
    """The stdlib reader, as used when flanker fails."""
    context = parse._Context(raw)
    return parse._assemble(parse._read_with_email(context), context)


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


def main() -> None:
    """Print msg/s and failures for both readers on the corpus, then MiB/s on generated attachments."""
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    options.add_argument("--quick", action="store_true", help="one pass, small attachments: checks the script works")
    args = options.parse_args()

    corpus = [path.read_bytes() for path in sorted(args.corpus.glob("*.eml"))] if args.corpus.is_dir() else []
    fixtures = sorted((Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "parse").glob("*.eml"))
    corpus += [path.read_bytes() for path in fixtures]
    rounds = 1 if args.quick else 20
    parse.parse_message(b"From: warm@up.pl\r\n\r\nx")  # import flanker outside the timings

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus")
    print(f"corpus: {len(corpus)} messages from {args.corpus} and tests/fixtures/parse, {rounds} passes")
    results = {}
    for name, reader in (("flanker", with_flanker), ("email", with_email)):
        seconds, failures = run(reader, corpus, rounds)
        results[name] = len(corpus) * rounds / seconds
        print(f"  {name:8} {results[name]:9.0f} msg/s   raised on {failures}/{len(corpus)}")

    for size in SIZES[:2] if args.quick else SIZES:
        raw = generated(size)
        line = [f"attachment {size >> 10:>6} KiB:"]
        for name, reader in (("flanker", with_flanker), ("email", with_email)):
            passes = 1 if args.quick or size > (1 << 20) else 5
            seconds, _ = run(reader, [raw], passes)
            line.append(f"{name} {len(raw) * passes / seconds / (1 << 20):7.1f} MiB/s")
        print("  " + "   ".join(line))

    print(f"headline: flanker/email msg/s on the corpus = {results['flanker'] / results['email']:.2f}")


if __name__ == "__main__":
    main()
