"""linker.parse_addresses, and importing flanker: no output, no tables written, safe in parallel processes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from linker.model import Mailbox
from linker.parse import parse_addresses

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ()),
        ("jan@firma.pl", (Mailbox(None, "jan@firma.pl"),)),
        ("Jan Novák", (Mailbox("Jan Novák", None),)),
        (
            '"Kowalski, Jan" <jan@firma.pl>, anna@firma.pl',
            (Mailbox("Kowalski, Jan", "jan@firma.pl"), Mailbox(None, "anna@firma.pl")),
        ),
        # Outlook's forward blocks: "Last, First" unquoted, separated by semicolons
        (
            "Novák, Jan <jan.novak@klient.cz>; Dvořák, Petr <petr.dvorak@klient.cz>",
            (Mailbox("Novák, Jan", "jan.novak@klient.cz"), Mailbox("Dvořák, Petr", "petr.dvorak@klient.cz")),
        ),
        ("Müller, Hans <hans@x.de>", (Mailbox("Müller, Hans", "hans@x.de"),)),
        ("a@b.pl, Jan Novák, c@d.pl", (Mailbox(None, "a@b.pl"), Mailbox("Jan Novák", None), Mailbox(None, "c@d.pl"))),
        ("=?utf-8?q?J=C3=B3zef_Kowalski?= <józef@przykład.pl>", (Mailbox("Józef Kowalski", "józef@przykład.pl"),)),
        (
            "=?iso-8859-2?Q?Zuzana_Dvo=F8=E1kov=E1?= <zuzana@klient.cz>",
            (Mailbox("Zuzana Dvořáková", "zuzana@klient.cz"),),
        ),
        ("jan@firma.pl (Jan Kowalski)", (Mailbox("Jan Kowalski", "jan@firma.pl"),)),
        ("undisclosed-recipients:;", ()),
        ("Sprzedaż: ania@meblex.pl, ola@meblex.pl;", (Mailbox(None, "ania@meblex.pl"), Mailbox(None, "ola@meblex.pl"))),
        ("Ion Popescu <ion.popescu@client.ro> (Vânzări)", (Mailbox("Ion Popescu", "ion.popescu@client.ro"),)),
        ("Jan Kowalski jan@firma.pl", (Mailbox("Jan Kowalski", "jan@firma.pl"),)),
        ("<>", ()),
        ("Jan\r\n Kowalski <jan@firma.pl>", (Mailbox("Jan Kowalski", "jan@firma.pl"),)),
    ],
)
def test_parse_addresses(value: str, expected: tuple[Mailbox, ...]) -> None:
    assert parse_addresses(value) == expected


def test_parse_addresses_from_many_threads() -> None:
    value = "Paweł Wiśniewski <pawel@meblex.pl>, Novák, Jan <jan@klient.cz>"
    expected = parse_addresses(value)
    results: list[tuple[Mailbox, ...]] = []

    def work() -> None:
        results.extend(parse_addresses(value) for _ in range(200))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [expected] * 1600


_IMPORT_AND_PARSE = """
import sys
import linker.parse
message = linker.parse.parse_message(b"From: a@b.c\\r\\n\\r\\nx")
assert message.parser == "flanker", message
assert linker.parse.parse_addresses("Novák, Jan <jan@x.cz>; a@b.c, (broken")
# Tables are never read from site-packages (another process may be writing them).
assert not [name for name in sys.modules if name.endswith("parsetab")], sorted(sys.modules)
"""


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "FLANKER_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    return env


def _tables_snapshot() -> dict[str, bytes]:
    spec = importlib.util.find_spec("flanker")  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations
    tables = Path(spec.submodule_search_locations[0], "addresslib", "_parser").glob("*parsetab.py")
    return {path.name: path.read_bytes() for path in tables}


@pytest.mark.slow
def test_importing_flanker_prints_nothing_and_writes_no_tables(tmp_path: Path) -> None:
    before = _tables_snapshot()

    # -W always: a warning we let through would be printed
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", _IMPORT_AND_PARSE],
        capture_output=True,
        env=_isolated_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert _tables_snapshot() == before


@pytest.mark.slow
def test_processes_importing_at_once_all_succeed(tmp_path: Path) -> None:
    env = _isolated_env(tmp_path)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _IMPORT_AND_PARSE],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        for _ in range(6)
    ]
    outcomes = [(process.wait(timeout=120), *process.communicate()) for process in processes]

    assert outcomes == [(0, b"", b"")] * 6
