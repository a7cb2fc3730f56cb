"""``Store`` by composition: verb groups over one ``Database``, none reaching another; no import cycles in ``store``."""

from __future__ import annotations

import ast
from pathlib import Path

from store import Store
from store.blobs import BlobStore
from store.database import Database

STORE = Path(__file__).resolve().parents[2] / "store"
GROUPS = ("receipts", "content", "filing", "directory", "auth", "queries", "metrics", "webhooks")


def test_each_group_holds_the_database_and_no_other_group(sqlite_store: Store) -> None:
    groups = {name: getattr(sqlite_store, name) for name in GROUPS}
    group_types = {type(g) for g in groups.values()}
    assert len(group_types) == len(GROUPS)
    for name, group in groups.items():
        held = list(vars(group).values())
        assert sqlite_store.database in held, name
        assert all(isinstance(v, Database | BlobStore | int) for v in held), (name, held)
        assert not [v for v in held if type(v) in group_types], name


def _imports(path: Path) -> set[str]:
    """The ``store`` modules ``path`` imports (``from store import x`` counts as importing the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "store":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "store"}
    return found


def test_store_modules_import_each_other_without_a_cycle() -> None:
    graph = {("store" if p.stem == "__init__" else f"store.{p.stem}"): _imports(p) for p in sorted(STORE.glob("*.py"))}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
