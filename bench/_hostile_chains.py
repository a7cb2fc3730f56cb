"""Hostile forward chains for ``forward_eval.py --hostile MIB``: messages that nest forwards as deep as their size
allows, timed through the whole pipeline (the work per level must stay bounded)."""

from __future__ import annotations

from collections.abc import Iterator

from linker.pipeline import Envelope


def _hostile_block(i: int, quote: str = "") -> str:
    lines = [
        "-----Original Message-----",
        f"From: Person {i} <p{i}@x{i % 97}.test>",
        "Sent: Monday, March 4, 2024 9:15 AM",
        f"To: Other <o{i}@y.test>",
        f"Subject: FW: offer {i}",
        "",
        f"text of level {i}",
        "",
    ]
    return "".join(f"{quote}{line}\n" for line in lines)


def hostile_messages(mib: int) -> Iterator[tuple[str, bytes]]:
    """Messages of ``mib`` MiB that nest forwards as deep as their size allows: flat ``-----Original Message-----``
    blocks, blocks quoted one ``> `` deeper each, and one block above plain text (the cost of a single level)."""
    size = mib << 20
    head = "From: Anna <anna@example.com>\r\nTo: assistant@crm.example.com\r\nSubject: FW: offer\r\n"
    head += "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    flat: list[str] = []
    total = n = 0
    while total < size:
        flat.append(_hostile_block(n))
        total += len(flat[-1])
        n += 1
    yield f"flat: {n} nested blocks", (head + "".join(flat)).encode()
    quoted: list[str] = []
    total = n = 0
    while total < size:
        quoted.append(_hostile_block(n, "> " * n))
        total += len(quoted[-1])
        n += 1
    yield f"quoted: {n} blocks, each one '> ' deeper", (head + "".join(quoted)).encode()
    text = "lorem ipsum dolor sit amet\n" * (size // 27)
    yield "one block over plain text", (head + _hostile_block(0) + text).encode()


def measure_hostile(mib: int) -> int:
    """Time the whole pipeline (``run_pipeline``, default settings) on each hostile shape; print CPU seconds."""
    import time

    from linker.directory import MemoryDirectory
    from linker.pipeline import default_settings, run_pipeline

    def run(raw: bytes) -> tuple[float, int]:
        start = time.process_time()
        plan = run_pipeline(raw, envelope=Envelope(), settings=default_settings(), directory=MemoryDirectory())
        levels = len(plan.original.chain) if plan.original else 0
        return time.process_time() - start, levels

    run(next(hostile_messages(1))[1])  # imports and caches, outside the timing
    print(f"forward_eval --hostile {mib}: linker CPU per message (run_pipeline: parse, unwrap, plan)")
    for name, raw in hostile_messages(mib):
        seconds, levels = run(raw)
        print(f"  {name:<44} {len(raw) / (1 << 20):6.1f} MiB  {seconds:6.2f} s  {levels} levels read")
    return 0
