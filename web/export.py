"""CSV export of a message list: one row per message, cells that a spreadsheet would run as formulas neutralised.

Pure functions over ``MessageRow``s; the route streams ``csv_lines`` as the store reads the rows a page at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from store import LinkChip, MessageRow
from web.addresses import shown_address

#: The header row, in column order.
CSV_COLUMNS = (
    "id",
    "date",
    "direction",
    "kind",
    "submitter",
    "from_name",
    "from_address",
    "subject",
    "links",
    "sources",
)
#: A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice or Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows written per chunk of the streamed response.
ROWS_PER_CHUNK = 200


def csv_cell(value: object) -> str:
    """``value`` as text, with a leading ``'`` when a spreadsheet would read it as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def links_cell(links: Iterable[LinkChip]) -> str:
    """The links of a message as ``type:label`` pairs separated by ``; ``, e.g. ``client:Acme; record:OP-123``."""
    return "; ".join(f"{chip.type}:{shown_address(chip.label)}" for chip in links)


def csv_row(row: MessageRow) -> list[str]:
    """One message as the cells of ``CSV_COLUMNS``, every cell neutralised."""
    values = (
        row.id,
        row.date.isoformat(),
        row.direction,
        row.kind,
        row.submitter,
        row.from_name,
        shown_address(row.from_address),
        row.subject,
        links_cell(row.links),
        # Where its receipts came from: smtp, api, file, imap:NAME (``; ``-separated).
        "; ".join(row.sources),
    )
    return [csv_cell(v) for v in values]


def csv_lines(rows: Iterable[MessageRow], *, chunk: int = ROWS_PER_CHUNK) -> Iterator[str]:
    """The CSV text (header first, CRLF line ends) in chunks of up to ``chunk`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    pending = 0
    for row in rows:
        writer.writerow(csv_row(row))
        pending += 1
        if pending >= chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()
