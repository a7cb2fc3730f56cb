"""Reads the directory's CSV files (users, clients, contacts, records) into normalized rows for ``store``.

Only the file and each row on its own are checked here: encoding, header, roles, codes, and each cell (addresses,
domains, names, time zones: ``mailassist.import_cells``).
What needs the other rows or the database (duplicates, conflicts, unknown clients) is checked by the store's
``apply_*`` verbs. Every problem is a ``(line, message)`` pair; lines are physical lines, the header is line 1.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from mailassist.import_cells import (
    RowError,
    address,
    addresses,
    domains,
    text,
    time_zone,
)
from store import Store
from store.shapes import ROLES, ClientRow, ContactRow, ImportResult, RecordRow, RelinkResult, RelinkScope, UserRow

R = TypeVar("R")

_CODE = re.compile(r"^([A-Z][A-Z0-9]*)-([0-9]+)$")


class FileError(Exception):
    """The file as a whole cannot be read (encoding, header, CSV syntax); ``problems`` are ``(line, message)``."""

    def __init__(self, line: int, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.problems = [(line, message) for message in messages]


# --- rows, one function per kind ---------------------------------------------------------------------------


def user_row(line: int, cells: Mapping[str, str], codes: Mapping[str, str]) -> UserRow:
    """A users row: ``email,name,team,role,aliases``, and ``time_zone`` if the file has that column."""
    email_cell = cells["email"].strip()
    if not email_cell:
        raise RowError("email: required, but empty")
    if ";" in email_cell:
        raise RowError("email: one address only; put the others in aliases")
    email = address("email", email_cell)
    role = cells["role"].strip().lower()
    if role not in ROLES:
        got = f"'{cells['role'].strip()}'" if role else "empty"
        raise RowError(f"role: must be one of {', '.join(ROLES)} (got {got})")
    aliases = tuple(a for a in addresses(cells, "aliases") if a != email)
    name = text(cells, "name", required=True)
    team = text(cells, "team", required=False) or None
    if "time_zone" not in cells:
        return UserRow(line=line, email=email, name=name, team=team, role=role, aliases=aliases)
    zone = time_zone(cells, "time_zone")
    return UserRow(line, email, name, team, role, aliases, time_zone=zone, sets_time_zone=True)


def client_row(line: int, cells: Mapping[str, str], codes: Mapping[str, str]) -> ClientRow:
    """A clients row: ``name,domains,emails``."""
    name = text(cells, "name", required=True)
    return ClientRow(line=line, name=name, domains=domains(cells, "domains"), emails=addresses(cells, "emails"))


def contact_row(line: int, cells: Mapping[str, str], codes: Mapping[str, str]) -> ContactRow:
    """A contacts row: ``name,emails,client``; the client is optional."""
    name = text(cells, "name", required=True)
    emails = addresses(cells, "emails")
    if not emails:
        raise RowError("emails: at least one address is required")
    return ContactRow(line=line, name=name, emails=emails, client=text(cells, "client", required=False) or None)


def record_row(line: int, cells: Mapping[str, str], codes: Mapping[str, str]) -> RecordRow:
    """A records row: ``code,type,title,client``; the code's prefix must be configured in ``[codes]``, if any are."""
    raw_code = cells["code"].strip()
    if not raw_code:
        raise RowError("code: required, but empty")
    match = _CODE.match(raw_code.upper())
    if match is None:
        raise RowError(f"code: '{raw_code}' is not PREFIX-DIGITS, such as OP-123")
    prefix = match.group(1)
    record_type = text(cells, "type", required=True)
    if codes:
        if prefix not in codes:
            raise RowError(f"code: unknown code prefix '{prefix}'; configured: {', '.join(sorted(codes))}")
        if record_type.casefold() != codes[prefix].casefold():
            raise RowError(f"type: '{record_type}' does not match code prefix '{prefix}', which is '{codes[prefix]}'")
        record_type = codes[prefix]
    title = text(cells, "title", required=True)
    client = text(cells, "client", required=False) or None
    return RecordRow(line=line, code=match.group(0), type=record_type, title=title, client=client)


@dataclass(frozen=True, slots=True)
class Kind(Generic[R]):
    """What one kind of file holds, how a row becomes a store row, and which store verb applies them."""

    name: str
    columns: tuple[str, ...]
    parse: Callable[[int, Mapping[str, str], Mapping[str, str]], R]
    apply: Callable[[Store, Sequence[R], bool], ImportResult]
    #: Columns a file may leave out; ``parse`` gets no cell for them then, and leaves what they hold as it is.
    optional: tuple[str, ...] = ()

    @property
    def allowed(self) -> tuple[str, ...]:
        """Every column a file may have: the required ones, then the optional ones."""
        return self.columns + self.optional


#: Every importable kind, by the name the command line uses.
KINDS: dict[str, Kind[Any]] = {
    "users": Kind(
        "users",
        ("email", "name", "team", "role", "aliases"),
        user_row,
        lambda s, r, d: s.directory.apply_users(r, dry_run=d),
        optional=("time_zone",),
    ),
    "clients": Kind(
        "clients", ("name", "domains", "emails"), client_row, lambda s, r, d: s.directory.apply_clients(r, dry_run=d)
    ),
    "contacts": Kind(
        "contacts", ("name", "emails", "client"), contact_row, lambda s, r, d: s.directory.apply_contacts(r, dry_run=d)
    ),
    "records": Kind(
        "records",
        ("code", "type", "title", "client"),
        record_row,
        lambda s, r, d: s.directory.apply_records(r, dry_run=d),
    ),
}


# --- one row as JSON (the directory sync API) -------------------------------------------------------------------

#: Columns that hold lists: in JSON an array of strings, or one ``;``-separated string as in the CSV.
LIST_COLUMNS = frozenset({"aliases", "domains", "emails"})
_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", dict: "an object", list: "an array"}


def json_row(kind_name: str, line: int, fields: object, codes: Mapping[str, str] | None = None) -> Any:
    """One row of ``kind_name`` from a JSON object, checked exactly as a CSV row: the object's keys are the file's
    columns (a missing key or ``null`` is an empty cell; a missing optional key, a column the file leaves out).
    Raises ``RowError``."""
    kind = KINDS[kind_name]
    if not isinstance(fields, dict):
        raise RowError(f"expected a JSON object with the fields {', '.join(kind.allowed)}")
    unknown = [str(key) for key in fields if key not in kind.allowed]
    if unknown:
        raise RowError(f"unknown field '{unknown[0]}'; allowed: {', '.join(kind.allowed)}")
    cells: dict[str, str] = {}
    for column in (*kind.columns, *(c for c in kind.optional if c in fields)):
        value = fields.get(column)
        if value is None:
            cells[column] = ""
        elif isinstance(value, str):
            cells[column] = value
        elif column in LIST_COLUMNS and isinstance(value, list) and all(isinstance(v, str) for v in value):
            if any(";" in v for v in value):
                raise RowError(f"{column}: an item contains ';'")
            cells[column] = ";".join(value)
        else:
            wanted = "a string or an array of strings" if column in LIST_COLUMNS else "a string"
            raise RowError(f"{column}: expected {wanted}, got {_JSON_TYPES.get(type(value), 'something else')}")
    return kind.parse(line, cells, codes or {})


def natural_key(kind_name: str, value: str) -> str:
    """The stored form of a natural key as a row would hold it: a user's email, a client's name (matched
    case-insensitively by the store), one of a contact's addresses, a record's code. Raises ``RowError``."""
    if kind_name in ("users", "contacts"):
        return address("email" if kind_name == "users" else "emails", value)
    if kind_name == "clients":
        return text({"name": value}, "name", required=True)
    if kind_name == "records":
        match = _CODE.match(value.strip().upper())
        if match is None:
            raise RowError(f"code: '{value.strip()}' is not PREFIX-DIGITS, such as OP-123")
        return match.group(0)
    raise KeyError(kind_name)


# --- the file -----------------------------------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 with or without a BOM. Raises ``FileError`` (or ``OSError``)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileError(1, "the file is UTF-16; save it as UTF-8 (in Excel: 'CSV UTF-8')")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise FileError(line, f"not UTF-8 (byte 0x{bad}); save the file as UTF-8 (in Excel: 'CSV UTF-8')") from None


def count_lines(text: str) -> int:
    """Physical lines in ``text``, as ``csv`` counts them."""
    return len(io.StringIO(text, newline="").readlines())


def _header(line: int, cells: list[str], columns: tuple[str, ...], optional: tuple[str, ...]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    expected = ",".join(columns)
    allowed = columns + optional
    if len(names) == 1 and ";" in names[0] and set(columns) <= set(names[0].split(";")) <= set(allowed):
        raise FileError(line, f"columns are separated by ';'; save the file with ',' between them: {expected}")
    problems = []
    for position, name in enumerate(names, start=1):
        if not name:
            problems.append(f"column {position} has no name; expected: {expected}")
        elif name not in allowed:
            problems.append(f"unknown column '{name}'; allowed: {', '.join(allowed)}")
        elif names.index(name) != position - 1:
            problems.append(f"column '{name}' appears twice")
    problems += [f"missing column '{c}'" for c in columns if c not in names]
    if problems:
        raise FileError(line, *problems)
    return names


@dataclass(slots=True)
class Parsed(Generic[R]):
    """The rows that passed, and ``(line, message)`` for those that did not."""

    rows: list[R] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    #: Rows read, good and bad (blank lines are not rows).
    count: int = 0


def parse(
    text: str,
    kind: Kind[R],
    *,
    codes: Mapping[str, str] | None = None,
    on_lines: Callable[[int], None] | None = None,
) -> Parsed[R]:
    """Check the header and every row of ``text``. Raises ``FileError`` when no row can be read at all.

    ``on_lines`` is told how many physical lines each row took, for a progress bar.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: Parsed[R] = Parsed()
    header: list[str] | None = None
    done = 0
    while True:
        start = done + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise FileError(start, "a quoted cell that starts on this line is never closed") from None
            raise FileError(reader.line_num, f"not valid CSV: {exc}") from None
        if on_lines is not None:
            on_lines(reader.line_num - done)
        done = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = _header(start, cells, kind.columns, kind.optional)
            continue
        out.count += 1
        if len(cells) != len(header):
            out.problems.append(
                (start, f"expected {len(header)} cells ({','.join(header)}), got {len(cells)}; quote cells with commas")
            )
            continue
        try:
            out.rows.append(kind.parse(start, dict(zip(header, cells, strict=True)), codes or {}))
        except RowError as exc:
            out.problems.append((start, str(exc)))
    if header is None:
        raise FileError(1, f"the file is empty; expected a header line: {','.join(kind.columns)}")
    return out


def format_problems(source: str, problems: Sequence[tuple[int, str]], *, limit: int = 50) -> list[str]:
    """``source:line: message`` in line order, at most ``limit`` of them, then how many more there are."""
    ordered = sorted(problems, key=lambda problem: problem[0])
    lines = [f"{source}:{line}: {message}" for line, message in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(f"… and {len(ordered) - limit} more")
    return lines


def plural(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(source: str, count: int, result: ImportResult, *, dry_run: bool) -> str:
    """The one line a successful import prints, such as ``users.csv: 120 rows: 100 created, 20 updated``."""
    line = f"{source}: {plural(count, 'row')}: {result.created} created, {result.updated} updated"
    if result.new_teams:
        shown = ", ".join(result.new_teams[:5]) + (", …" if len(result.new_teams) > 5 else "")
        line += f", {plural(len(result.new_teams), 'new team')} ({shown})"
    return line + (" (dry run, nothing written)" if dry_run else "")


def relink_scope(rows: Sequence[object]) -> RelinkScope:
    """What past mail an import of ``rows`` may re-file: its records' codes, its contacts' and clients' addresses,
    its clients' domains. Users are not filed on by address, so a users import re-files nothing."""
    codes: dict[str, None] = {}
    addresses: dict[str, None] = {}
    domains: dict[str, None] = {}
    for row in rows:
        if isinstance(row, RecordRow):
            codes[row.code.upper()] = None
        elif isinstance(row, ContactRow | ClientRow):
            addresses.update(dict.fromkeys(row.emails))
        if isinstance(row, ClientRow):
            domains.update(dict.fromkeys(row.domains))
    return RelinkScope(codes=tuple(codes), addresses=tuple(addresses), domains=tuple(domains))


def relink_summary(result: RelinkResult) -> str:
    """The line a relink prints, such as ``relink: 3 codes resolved, 0 leads converted, 0 participants matched;
    3 links added (3 record, 0 contact, 0 client)``."""
    return (
        f"relink: {plural(result.codes_resolved, 'code')} resolved, {plural(result.leads_converted, 'lead')} "
        f"converted, {plural(result.participants_matched, 'participant')} matched; "
        f"{plural(result.links_added, 'link')} added ({result.record_links} record, {result.contact_links} contact, "
        f"{result.client_links} client)"
    )
