"""The hostile messages of ``bench/hostile.py`` (issue 15), one ``Case`` each: tag soup, deep nesting, many and
nested MIME parts, nested forwards, many recipients, huge headers, long lines, base64 and quoted-printable bombs,
and the normal 16 KiB message they are compared with."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass

MiB = 1 << 20
HEADERS = "From: Jan Kowalski <jan@acme.example>\r\nTo: anna@example.com\r\nMessage-ID: <{n}@acme.example>\r\n"


@dataclass(frozen=True)
class Case:
    """One hostile message: its class (the report's grouping), what it is, and its bytes."""

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
    """Every hostile case; ``scale`` 1 is full size (up to ~25 MiB), smaller for ``--quick``. Long because it is a
    table of cases, each a line or two: splitting it would only scatter the table."""

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
    # The user's forward of thousands of attached emails: the first is its original, 20 more get receipts of their
    # own (``MAX_ALSO_ATTACHED``), which the filing column includes; the rest stay attachments.
    attached = n(5_000)
    carried = "".join(
        f"--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: Client {i} <c{i}@client{i % 500}.example>\r\n"
        f"Subject: Sprawa {i}\r\nMessage-ID: <s{i}@client.example>\r\n\r\nTreść sprawy {i}.\r\n"
        for i in range(attached)
    )
    forward = (
        "From: Anna Nowak <anna@example.com>\r\nTo: assistant@crm.example.com\r\nSubject: Fwd: maile\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n' + carried + "--m--\r\n"
    )
    yield Case("MIME parts", f"a forward carrying {attached} attached emails", forward.encode())
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
