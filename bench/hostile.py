"""Hostile input (issue 15): CPU per message through the real linker pipeline, per call of the HTML sanitizer, and
the message pages' server time once the message is filed.

Generated classes, each at the sizes an attacker would pick under ``max_message_size`` (25 MiB): HTML tag soup
(the stdlib ``html.parser``'s CVE-2025-6069 input among it), deep nesting and cloned formatting tags (quadratic
for HTML tree builders), 50k MIME parts, 10k recipients, huge headers (a folded 8 MB subject), long lines, and
base64 and quoted-printable bombs. Each message goes through ``linker.pipeline.run_pipeline`` (parse, classify,
unwrap, plan: what ``mailassist explain`` runs) with ``default_settings()`` and a ``MemoryDirectory``, timed with
``time.process_time``; its HTML body (when it has one) goes through ``store.safehtml.sanitize_email_html`` (what
the store runs once, when it files the message). Then the message is filed the way a worker files it
(``Processor.process`` over a SQLite store: linker, sanitizer, transaction), and its two pages, ``/messages/{id}``
and the frame's ``/messages/{id}/html``, are requested ``VIEWS`` times each from a logged-in viewer (Starlette's
test client, in this process: server time plus a few µs of client).

Per class it prints the worst case, its CPU seconds and the ratio to a normal 16 KiB message (text + HTML), and
whether it is within the issue's budgets: 2 s of linker CPU per message, 100 ms per sanitizer call, and 100 ms for
a page at p99 (the slower of the two pages; with ``VIEWS`` = 50 views, p99 is the slowest but one).

Usage: ``python bench/hostile.py [--quick] [--only CLASS,...]``. ``--quick`` uses small sizes and exits 1 when a case
raises or takes more than ``QUICK_FACTOR`` times its budget (timings are printed, never checked more tightly).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import multiprocessing
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine
from sqlalchemy import text
from starlette.testclient import TestClient

from linker.directory import MemoryDirectory
from linker.errors import UnreadableMessageError
from linker.parse import parse_message
from linker.pipeline import Envelope, default_settings, run_pipeline
from linker.settings import LinkerSettings
from linker.tasks import Processor, QueueSettings, linker_pipeline
from mailassist.logs import configure_logging
from store import Store
from store.safehtml import sanitize_email_html
from store.shapes import UserRow
from web.app import create_app
from web.auth.passwords import hash_password

#: The issue's budgets: linker CPU per message, and sanitizer CPU per page (its share of the 100 ms page).
LINKER_BUDGET = 2.0
SANITIZER_BUDGET = 0.1
PAGE_BUDGET = 0.1
#: Requests per page and message; the p99 of 50 is the second slowest.
VIEWS = 50
VIEWER = "anna@example.com"
ASSISTANT = "assistant@crm.example.com"
PASSWORD = "bench password, long enough"
#: ``--quick`` fails a case only past this many times its budget: a sanity check, not a timing.
QUICK_FACTOR = 10
#: A sanitizer call still running after this many seconds is stopped and reported as ``>`` this: nh3's tree
#: builder (html5ever) is quadratic in nesting depth, and 4M nested ``<div>`` would take days.
SANITIZER_TIMEOUT = 60.0
MiB = 1 << 20
HEADERS = "From: Jan Kowalski <jan@acme.example>\r\nTo: anna@example.com\r\nMessage-ID: <{n}@acme.example>\r\n"


@dataclass(frozen=True)
class Case:
    cls: str
    name: str
    raw: bytes


def message(n: str, body: str | bytes, *, content_type: str = "text/html", cte: str = "8bit", extra: str = "") -> bytes:
    """One message: our headers, ``extra`` headers, and a single body part."""
    head = HEADERS.format(n=n) + "Subject: hostile\r\n" + extra
    head += f"MIME-Version: 1.0\r\nContent-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n"
    data = body.encode() if isinstance(body, str) else body
    return head.encode() + b"\r\n" + data


def normal() -> bytes:
    """A normal 16 KiB message: a text part and its HTML alternative."""
    paragraph = "Dzień dobry, przesyłam ofertę na 20 krzeseł biurowych w kolorze szarym, z dostawą w marcu. "
    text = "\r\n\r\n".join([paragraph * 2] * 40)[: 6 * 1024]
    html = "".join(
        f"<p class=MsoNormal>{paragraph}<b>{i}</b> <a href='https://x.example/{i}'>link</a></p>" for i in range(60)
    )
    boundary = "b-normal"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html[: 10 * 1024]}\r\n--{boundary}--\r\n"
    )
    return message("normal", body, content_type=f'multipart/alternative; boundary="{boundary}"')


def _nested_forwards(n: Callable[[int], int]) -> Iterator[Case]:
    """Outlook blocks one under another, and quoted one level deeper each: each level of a chain re-reads the rest."""
    outlook = (
        "\r\n-----Original Message-----\r\nFrom: Jan Kowalski <jan{i}@acme.example>\r\n"
        "Sent: Tuesday, March 4, 2025 9:15 AM\r\nTo: Anna Nowak <anna@example.com>\r\nSubject: RE: Oferta {i}\r\n\r\n"
        "Dzień dobry, w załączeniu poprawiona oferta.\r\n"
    )
    blocks = n(25 * MiB // 230)
    flat = "".join(outlook.format(i=i) for i in range(blocks))
    yield Case(
        "nested forwards",
        f"{blocks} Outlook blocks, one under another (25 MB)",
        message(
            "fwd", "Forwarding the whole thread.\r\n" + flat, content_type="text/plain", extra="Subject: FW: Oferta\r\n"
        ),
    )
    quoted_blocks: list[str] = []
    size, limit = 0, n(25 * MiB)
    while size < limit:  # each block quoted one level deeper than the one before, up to 100 levels, then again
        depth = len(quoted_blocks) % 100
        block = outlook.format(i=len(quoted_blocks)).replace("\r\n", "\r\n" + "> " * depth)
        quoted_blocks.append(block)
        size += len(block)
    quoted = "".join(quoted_blocks)
    yield Case(
        "nested forwards",
        "blocks quoted one '> ' deeper each (25 MB)",
        message("fwdq", "See below.\r\n" + quoted, content_type="text/plain", extra="Subject: FW: FW: Oferta\r\n"),
    )


def cases(scale: float) -> Iterator[Case]:
    """Every hostile case; ``scale`` 1 is full size (up to ~25 MiB), smaller for ``--quick``."""

    def n(count: int) -> int:
        return max(10, int(count * scale))

    yield Case("tag soup", "'<a ' x 20k (60 KB, CVE-2025-6069)", message("a20k", "<a " * 20_000))
    yield Case("tag soup", "'<a ' x 8M (24 MB)", message("a8m", "<a " * n(8_000_000)))
    soup = "<div><p>x<b>y<table><td>z</i></b><a href=x>q<!-- c --><![CDATA[ ]]>&amp;&#x41;<img src=//t.example/p>"
    yield Case("tag soup", "mixed soup, 5 MB", message("soup5", soup * n(5 * MiB // len(soup))))
    yield Case("tag soup", "unclosed comments, 8 MB", message("cmt", "<!--" * n(2 * MiB)))
    yield Case("tag soup", "CDATA soup, 9 MB", message("cdata", "<![CDATA[" * n(MiB)))
    yield Case("deep nesting", "<div> x 100k", message("div100k", "<div>" * n(100_000) + "deep"))
    yield Case("deep nesting", "<div> x 4M (20 MB)", message("div4m", "<div>" * n(4_000_000)))
    yield Case("deep nesting", "<blockquote> x 1M", message("bq", "<blockquote>" * n(1_000_000)))
    clones = "<p>" + "".join(f"<b id={i}>" for i in range(n(5_000))) + "</p><p>x" * n(2_500)
    yield Case("deep nesting", "5k formatting tags cloned into 2.5k paragraphs (74 KB)", message("fmt", clones))
    parts = n(50_000)
    body = "".join(f"--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(parts)) + "--p--\r\n"
    yield Case("MIME parts", f"{parts} parts", message("parts", body, content_type='multipart/mixed; boundary="p"'))
    nested = "".join(f'--q{i}\r\nContent-Type: multipart/mixed; boundary="q{i + 1}"\r\n\r\n' for i in range(n(5_000)))
    yield Case(
        "MIME parts", "5k nested multiparts", message("nest", nested, content_type='multipart/mixed; boundary="q0"')
    )
    yield from _nested_forwards(n)
    dashes = "--x\r\n" * n(4_000_000)
    yield Case(
        "MIME parts", "4M lines that look like delimiters (20 MB)", message("dash", dashes, content_type="text/plain")
    )
    fake = "".join("--p\r\nContent-Type: text/plain\r\n\r\n" + "--y\r\n" * n(400_000) for _ in range(10))
    yield Case(
        "MIME parts",
        "10 parts holding 4M lines that look like delimiters",
        message("dashm", fake + "--p--\r\n", content_type='multipart/mixed; boundary="p"'),
    )
    people = n(10_000)
    to = ",\r\n ".join(f"Person {i} <person{i}@client{i % 500}.example>" for i in range(people))
    yield Case("recipients", f"{people} in Cc", message("rcpt", "<p>hi</p>", extra=f"Cc: {to}\r\n"))
    subject = "\r\n ".join(["Zapytanie ofertowe " * 4] * n(8 * MiB // 77))
    yield Case("huge headers", "folded 8 MB subject", message("subj", "<p>hi</p>", extra=f"Subject: {subject}\r\n"))
    many = "".join(f"X-H{i}: {'v' * 60}\r\n" for i in range(n(200_000)))
    yield Case("huge headers", "200k headers (15 MB)", message("hdrs", "<p>hi</p>", extra=many))
    words = "=?utf-8?b?" + base64.b64encode("Zażółć ".encode()).decode() + "?= "
    yield Case(
        "huge headers", "encoded words, 4 MB", message("ew", "hi", extra=f"X-Words: {words * n(4 * MiB // 29)}\r\n")
    )
    yield Case("long lines", "one 20 MB text line", message("line", "x" * n(20 * MiB), content_type="text/plain"))
    yield Case("long lines", "one 20 MB HTML line", message("hline", "<span>word</span> " * n(20 * MiB // 18)))
    html64 = base64.encodebytes(("<a " * n(4 * MiB)).encode())
    yield Case("base64 bomb", "12 MB of '<a ' in base64 (16 MB)", message("b64", html64, cte="base64"))
    garbage = b"!!@@##$$" * n(2 * MiB)
    yield Case("base64 bomb", "16 MB of invalid base64", message("b64bad", garbage, cte="base64"))
    qp = ("=3Ca =\r\n" * n(2 * MiB)).encode()
    yield Case("quoted-printable bomb", "16 MB of soft breaks and '=3Ca '", message("qp", qp, cte="quoted-printable"))
    qp_div = ("=3Cdiv=3E" * n(2 * MiB)).encode()
    yield Case(
        "quoted-printable bomb", "<div> x 2M, QP, one line (18 MB)", message("qpd", qp_div, cte="quoted-printable")
    )


def cpu(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


#: The pipeline's settings without its CPU limit: the bench measures what a message costs, not where it is stopped.
UNLIMITED = dataclasses.replace(default_settings(), cpu_limit=None)


def link(raw: bytes) -> tuple[float, str | None]:
    """Run the pipeline: its CPU seconds, and the message's HTML body (for the sanitizer) or None."""
    start = time.process_time()
    try:
        run_pipeline(raw, envelope=Envelope(), settings=UNLIMITED, directory=MemoryDirectory())
    except UnreadableMessageError:  # a verdict on the message, not a failure of ours
        return time.process_time() - start, None
    spent = time.process_time() - start
    return spent, parse_message(raw).html  # outside the timing


def sanitize(html: str) -> None:
    sanitize_email_html(html, cid_url=lambda cid: None)


def _sanitize_child(html: str, out: multiprocessing.queues.Queue[float]) -> None:
    out.put(cpu(lambda: sanitize(html)))


def sanitize_cpu(html: str) -> float:
    """The sanitizer's CPU seconds on ``html``, in a child process stopped after ``SANITIZER_TIMEOUT`` (then inf)."""
    context = multiprocessing.get_context("fork")
    out: multiprocessing.queues.Queue[float] = context.Queue()
    child = context.Process(target=_sanitize_child, args=(html, out))
    child.start()
    child.join(SANITIZER_TIMEOUT)
    if child.is_alive():
        child.kill()
        child.join()
        return float("inf")
    if child.exitcode != 0:
        raise RuntimeError(f"the sanitizer's process exited with {child.exitcode}")
    return out.get()


class Viewer:
    """A SQLite store with one user (role ``all``), a worker's ``Processor`` over it, and the viewer app, logged in
    as that user."""

    def __init__(self, root: Path) -> None:
        self.store = Store(f"sqlite:///{root / 'bench.db'}", root / "blobs")
        self.store.open()
        self.store.directory.apply_users([UserRow(2, VIEWER, "Anna Nowak", None, "all")])
        self.store.auth.set_password_hash(VIEWER, hash_password(PASSWORD))
        settings = LinkerSettings.build(
            assistant_addresses=[ASSISTANT], organization_domains=["example.com"], cpu_limit=None
        )
        self.processor = Processor(self.store, QueueSettings(), linker_pipeline(settings, self.store.directory))
        self.client = TestClient(create_app(self.store, secret_key="bench-secret-" + "k" * 40), follow_redirects=False)
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.client.get("/login").text)
        assert token is not None
        form = {"email": VIEWER, "password": PASSWORD, "csrf_token": token[1], "next": "/"}
        login = self.client.post("/login", data=form)
        if login.status_code != 303:
            raise RuntimeError(f"bench login failed: {login.status_code}")

    def file(self, raw: bytes) -> tuple[float, int | None]:
        """File ``raw`` as the worker would: its CPU seconds, and the message id (None: not filed)."""
        inbound = self.store.receipts.add_inbound(raw, mail_from=VIEWER, rcpt_tos=[ASSISTANT])
        filing = cpu(lambda: self.processor.process(inbound.id))
        with self.store.engine.connect() as conn:
            filed = conn.execute(text("SELECT message_id FROM inbound WHERE id = :id"), {"id": inbound.id}).scalar()
        return filing, filed

    def page_p99(self, message_id: int) -> float:
        """The slower page's p99 over ``VIEWS`` requests each: the message page and its HTML frame."""
        worst = 0.0
        for path in (f"/messages/{message_id}", f"/messages/{message_id}/html"):
            times = []
            for _ in range(VIEWS):
                start = time.perf_counter()
                response = self.client.get(path)
                times.append(time.perf_counter() - start)
                if response.status_code not in (200, 404):  # 404: a message without an HTML body has no frame
                    raise RuntimeError(f"GET {path}: {response.status_code}")
            times.sort()
            worst = max(worst, times[min(len(times) - 1, int(0.99 * len(times)) - 1)])
        return worst

    def close(self) -> None:
        self.client.close()
        self.store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; sanity only")
    parser.add_argument("--only", default="", help="comma-separated classes")
    args = parser.parse_args(argv)
    scale = 0.002 if args.quick else 1.0  # case names give the full sizes; the size column the real one
    only = {c.strip() for c in args.only.split(",") if c.strip()}
    print(f"machine: {machine()}")
    configure_logging("warning", "text")  # the worker files each case here: no line per message
    with tempfile.TemporaryDirectory(prefix="hostile-") as root:
        viewer = Viewer(Path(root))
        try:
            return run(viewer, scale, only, quick=args.quick)
        finally:
            viewer.close()


def run(viewer: Viewer, scale: float, only: set[str], *, quick: bool) -> int:
    base_raw = normal()
    base_link = min(link(base_raw)[0] for _ in range(20))
    base_html = "".join(f"<p>{i} <b>x</b></p>" for i in range(600))
    base_sanitize = min(cpu(lambda: sanitize(base_html)) for _ in range(20))
    _filing, base_id = viewer.file(base_raw)
    assert base_id is not None, "the normal message was not filed"
    base_page = viewer.page_p99(base_id)
    print(
        f"normal 16 KiB message: linker {base_link * 1e3:.2f} ms, sanitizer {base_sanitize * 1e3:.2f} ms, "
        f"page p99 {base_page * 1e3:.1f} ms\n"
    )
    print(
        f"{'class':22} {'case':50} {'size':>9} {'linker s':>9} {'x normal':>9} {'sanitize s':>10} {'x normal':>9} "
        f"{'filing s':>9} {'page p99 ms':>11}"
    )
    failed: list[str] = []
    worst: dict[str, tuple[float, float, float]] = {}
    for case in cases(scale):
        if only and case.cls not in only:
            continue
        html: str | None = None
        try:
            linker_s, html = link(case.raw)
            sanitize_s = sanitize_cpu(html) if html else 0.0
            filing_s, filed = viewer.file(case.raw)
            page_s = viewer.page_p99(filed) if filed is not None else 0.0
        except Exception:
            traceback.print_exc()
            failed.append(f"{case.cls}: {case.name} raised")
            continue
        size = f"{len(case.raw) / MiB:.1f} MiB" if len(case.raw) >= MiB else f"{len(case.raw) // 1024} KiB"
        print(
            f"{case.cls:22} {case.name[:50]:50} {size:>9} {linker_s:9.3f} {linker_s / base_link:9.0f} "
            f"{sanitize_s:10.3f} {sanitize_s / base_sanitize if html else 0:9.0f} {filing_s:9.3f} "
            f"{page_s * 1e3 if filed is not None else float('nan'):11.1f}",
            flush=True,
        )
        old = worst.get(case.cls, (0.0, 0.0, 0.0))
        worst[case.cls] = (max(old[0], linker_s), max(old[1], sanitize_s), max(old[2], page_s))
        over = linker_s > QUICK_FACTOR * LINKER_BUDGET or sanitize_s > QUICK_FACTOR * SANITIZER_BUDGET
        if quick and (over or page_s > QUICK_FACTOR * PAGE_BUDGET):
            failed.append(f"{case.cls}: {case.name} over {QUICK_FACTOR}x its budget")
    print(
        f"\nworst per class (budgets: linker {LINKER_BUDGET} s, sanitizer {SANITIZER_BUDGET * 1e3:.0f} ms, "
        f"page p99 {PAGE_BUDGET * 1e3:.0f} ms):"
    )
    for cls, (linker_s, sanitize_s, page_s) in worst.items():
        within = linker_s <= LINKER_BUDGET and sanitize_s <= SANITIZER_BUDGET and page_s <= PAGE_BUDGET
        print(
            f"  {cls:22} linker {linker_s:7.3f} s ({linker_s / base_link:6.0f}x normal)   "
            f"sanitizer {sanitize_s:7.3f} s ({sanitize_s / base_sanitize:6.0f}x normal)   "
            f"page p99 {page_s * 1e3:6.1f} ms ({page_s / base_page:5.1f}x normal)   {'ok' if within else 'OVER'}"
        )
    for failure in failed:
        print(f"FAILED {failure}")
    linker_worst = max((w[0] for w in worst.values()), default=0.0)
    sanitize_worst = max((w[1] for w in worst.values()), default=0.0)
    page_worst = max((w[2] for w in worst.values()), default=0.0)
    print(
        f"headline: worst linker CPU {linker_worst:.2f} s/message (goal {LINKER_BUDGET} s), worst sanitizer "
        f"{sanitize_worst * 1e3:.0f} ms/call (goal {SANITIZER_BUDGET * 1e3:.0f} ms), worst page p99 "
        f"{page_worst * 1e3:.0f} ms (goal {PAGE_BUDGET * 1e3:.0f} ms)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
