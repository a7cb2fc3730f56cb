"""Rewrite call sites for "store by composition" (issue 17, item 4): ``store.verb(`` becomes ``store.group.verb(``.

Run from the repository root: ``python tools/storecomp_rewrite.py [--extra NAME ...] [PATH ...]`` (default: every
tracked ``*.py`` file outside ``store/``, ``tools/`` and ``store/migrations``). Idempotent: a second run changes
nothing. It prints each file it changed and, for every line it left alone but that may still need a hand, why.

What it rewrites:

- ``RECEIVER.verb(`` and ``RECEIVER.verb`` (a bound method handed on, e.g. ``find_token_user=store.find_token_user``)
  to ``RECEIVER.group.verb``, where ``verb`` is a public method of a group class that ``Store.__init__`` builds
  (read from ``store/repo.py`` and the group modules, so a group added later is covered) and ``RECEIVER`` is a
  dotted name whose last part is one of ``RECEIVERS`` (``store``, ``self.store``, ``app.state.store``,
  ``self._store``, ``sqlite_store``, ``self.repo``...), or one given with ``--extra``.
- Imports of renamed store modules (``MODULE_RENAMES``), and names imported from a module that was split
  (``SPLIT_MODULES``: each name goes to the module that now defines it).

What it cannot do (listed in its output as ``check:`` lines where it can see them): receivers with other names (a
fixture called ``users``, a parameter called ``directory`` that is a ``Store``: give them with ``--extra`` on the
files where they are one), calls through a string other than ``setattr``/``getattr`` on a receiver, classes that
stand in for a ``Store`` (test doubles, ``Protocol`` classes: their methods must move into group attributes by
hand), calls split across lines between the receiver and the verb, and a line that grows past 120 characters
(``ruff check`` says which; re-wrap by hand).
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

#: The last part of a dotted name that holds a ``Store`` in this code base (``Store``: the class, in docstrings).
RECEIVERS = ("store", "_store", "sqlite_store", "pg_store", "repo", "Store")

#: Old module → new module, for every store module that was renamed.
MODULE_RENAMES: dict[str, str] = {
    "store.entities": "store.entry_details",
    "store.directory": "store.lookups",
}

#: A module that was split: old module → the modules its names now live in (searched in this order).
SPLIT_MODULES: dict[str, tuple[str, ...]] = {
    "store.repo": ("store.repo", "store.staged"),
    "store.views": ("store.shapes", "store.page_shapes"),
    "store.imports": ("store.imports", "store.bulk"),
    "store.indexes": ("store.indexes", "store.index_kinds"),
}

#: Names that were renamed when they moved (they were private): imported under the new name, as the old one, so
#: the importing module's body need not change.
RENAMED_NAMES: dict[tuple[str, str], str] = {
    ("store.imports", "_chunks"): "chunks",
    ("store.imports", "_load"): "chunked",
    ("store.imports", "_ClientNames"): "ClientNames",
    ("store.imports", "_Problems"): "Problems",
    ("store.imports", "_sync_children"): "sync_children",
    ("store.imports", "_insert"): "insert_rows",
    ("store.imports", "_update"): "update_rows",
    ("store.imports", "_owners"): "owners_of",
    ("store.imports", "_describe"): "labeller",
    ("store.imports", "_DryRun"): "DryRun",
}

#: Verbs only tests called, gone from the store: ``.verb(ARGS)`` becomes this (``{args}``: ARGS as written), when
#: ARGS hold no parentheses and end on the same line; any other call is reported.
REPLACED_VERBS: dict[str, str] = {
    "find_contacts_by_addresses": ".find_people({args}).contacts",
    "find_client_emails": ".find_people({args}).client_emails",
    "find_leads_by_addresses": ".find_people({args}).leads",
    "find_clients_by_domains": '.find_people([f"someone@{{d}}" for d in {args}]).client_domains',
    "get_raw": ".get_blob({args})",
}

#: Verbs that are gone with no one-line replacement (``has_blob``: ``content.get_blob`` raising
#: ``BlobNotFoundError``; ``find_message_by_dedupe_key``: read ``messages`` directly): reported, never rewritten.
REMOVED_VERBS: tuple[str, ...] = ("find_message_by_dedupe_key", "has_blob")

#: Which group each replaced or removed verb was in, for call sites not rewritten into groups yet.
_OLD_GROUPS = {
    "find_contacts_by_addresses": "directory",
    "find_client_emails": "directory",
    "find_leads_by_addresses": "directory",
    "find_clients_by_domains": "directory",
    "find_message_by_dedupe_key": "directory",
    "get_raw": "content",
    "has_blob": "content",
}


def _group_verbs(root: Path) -> dict[str, str]:
    """verb → group attribute, from ``Store.__init__``'s ``self.ATTR = Class(...)`` lines and the classes' methods."""
    repo = ast.parse((root / "store/repo.py").read_text())
    modules = {
        alias.asname or alias.name: node.module
        for node in repo.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    store = next(n for n in repo.body if isinstance(n, ast.ClassDef) and n.name == "Store")
    init = next(n for n in store.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    verbs: dict[str, str] = {}
    for stmt in ast.walk(init):
        if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)):
            continue
        target, func = stmt.targets[0], stmt.value.func
        if not (isinstance(target, ast.Attribute) and isinstance(func, ast.Name) and func.id in modules):
            continue
        module = modules[func.id]
        if not (root / (module.replace(".", "/") + ".py")).exists():
            module = MODULE_RENAMES.get(module, module)  # run on a tree whose imports are not rewritten yet
        if module in ("store.blobs", "store.database"):
            continue
        tree = ast.parse((root / (module.replace(".", "/") + ".py")).read_text())
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == func.id)
        for f in cls.body:
            if isinstance(f, ast.FunctionDef) and not f.name.startswith("_"):
                verbs[f.name] = target.attr
    return verbs


def _defined_names(root: Path, module: str) -> set[str]:
    tree = ast.parse((root / (module.replace(".", "/") + ".py")).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


_FROM_IMPORT = re.compile(r"^(?P<indent>[ \t]*)from (?P<module>[\w.]+) import (?P<names>\([^)]*\)|[^\n]*)", re.M)


def _rewrite_imports(text: str, root: Path, groups: set[str]) -> str:
    def one(m: re.Match[str]) -> str:
        module = m.group("module")
        if module in MODULE_RENAMES:
            return m.group(0).replace(f"from {module} import", f"from {MODULE_RENAMES[module]} import", 1)
        if module not in SPLIT_MODULES:
            return m.group(0)
        raw = m.group("names").strip("()")
        names = [n.strip() for n in raw.replace("\n", " ").split(",") if n.strip()]
        by_module: dict[str, list[str]] = {}
        for written in names:
            name, base = written, written.split(" as ")[0].strip()
            if (module, base) in RENAMED_NAMES:
                alias = written.split(" as ")[1].strip() if " as " in written else base
                base = RENAMED_NAMES[module, base]
                name = f"{base} as {alias}"
            home = next((t for t in SPLIT_MODULES[module] if base in _defined_names(root, t)), None)
            if home is None:
                print(f"check: {name} from {module}: defined in none of {SPLIT_MODULES[module]}", file=sys.stderr)
                home = SPLIT_MODULES[module][0]
            by_module.setdefault(home, []).append(name)
        indent = m.group("indent")
        return "\n".join(f"{indent}from {mod} import {', '.join(ns)}" for mod, ns in sorted(by_module.items()))

    text = _FROM_IMPORT.sub(one, text)
    for old, new in MODULE_RENAMES.items():
        text = re.sub(rf"^(\s*)import {re.escape(old)}$", rf"\1import {new}", text, flags=re.M)
        if old.rpartition(".")[2] in groups:
            # ``store.directory`` is also ``a_store.directory``, the group: only imports are certain to be the module.
            continue
        text = re.sub(rf"(?<![\w.]){re.escape(old)}(?=[.\s\"'])", new, text)
    for old, targets in SPLIT_MODULES.items():
        for line in re.findall(rf"^.*(?<![\w.]){re.escape(old)}\b(?! import).*$", text, flags=re.M):
            print(f"check: {old} (split into {', '.join(targets)}): {line.strip()}", file=sys.stderr)
    return text


#: Modules of the ``store`` package named like a verb (``relink``, ``dashboard``): ``store.NAME`` not followed by a
#: call is the module.
_STORE_MODULES = frozenset(p.stem for p in (Path(__file__).resolve().parent.parent / "store").glob("*.py"))


def _rewrite_calls(text: str, verbs: dict[str, str], receivers: tuple[str, ...]) -> str:
    names = "|".join(sorted(map(re.escape, verbs), key=len, reverse=True))
    groups = set(verbs.values())
    # A receiver named like a group (``--extra directory``) is one only when it is not an attribute itself:
    # ``store.directory.find_people`` is already rewritten.
    recv = "|".join(rf"(?<![\w.]){re.escape(r)}" if r in groups else rf"(?<!\w){re.escape(r)}" for r in receivers)
    # A receiver (not part of a longer name), a verb, then a call, or the end of a bound-method reference. Never on
    # an import line, and never followed by a dot (``store.relink.BATCH`` is the module).
    pattern = re.compile(rf"(?P<recv>{recv})\.(?P<verb>{names})(?=\(|[,)\]\s}}`:]|$)", re.M)

    def one(m: re.Match[str]) -> str:
        line_start = text.rfind("\n", 0, m.start()) + 1
        line = text[line_start : text.find("\n", m.end()) if "\n" in text[m.end() :] else len(text)]
        called = text[m.end() : m.end() + 1] == "("
        if not called and m.group("recv") == "store" and m.group("verb") in _STORE_MODULES:
            return m.group(0)  # ``store.relink``: the module, not the verb
        if (
            re.match(r"\s*(from|import)\s", line)
            or line[: m.start() - line_start].replace('"""', "").count('"') % 2 == 1
        ):
            return m.group(0)
        return f"{m.group('recv')}.{verbs[m.group('verb')]}.{m.group('verb')}"

    text = pattern.sub(one, text)
    # ``setattr(store, "verb", ...)`` (monkeypatching) and ``getattr(store, "verb")``: the group holds the verb now.
    by_name = re.compile(
        rf"(?P<fn>\b(?:set|get)attr\((?P<recv>(?:[\w.]*\.)?(?:{recv})), )(?P<q>[\"'])(?P<verb>{names})(?P=q)"
    )
    return by_name.sub(
        lambda m: f"{m.group('fn')[:-2]}.{verbs[m.group('verb')]}, {m.group('q')}{m.group('verb')}{m.group('q')}", text
    )


def _replace_verbs(text: str) -> str:
    for verb, template in REPLACED_VERBS.items():
        pattern = re.compile(rf"\.{verb}\((?P<args>[^()\n]*)\)")
        text = pattern.sub(lambda m, t=template: t.format(args=m.group("args")), text)  # type: ignore[misc]
    # One literal domain: ``["someone@acme.pl"]``, not a comprehension over a one-item list.
    return re.sub(r'\[f"someone@\{d\}" for d in \["([^"{}]+)"\]\]', r'["someone@\1"]', text)


def _report_removed(path: Path, text: str) -> None:
    for verb in (*REPLACED_VERBS, *REMOVED_VERBS):
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(rf"\.{verb}\(", line):
                print(f"check: {path}:{n}: {verb} was removed: {line.strip()}", file=sys.stderr)


def _default_paths(root: Path) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=root, check=True, capture_output=True, text=True).stdout
    skip = ("store/", "tools/")
    return [root / p for p in out.split() if not p.startswith(skip)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--extra", action="append", default=[], help="another receiver name holding a Store")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    root: Path = args.root
    verbs = {**_OLD_GROUPS, **_group_verbs(root)}
    receivers = (*RECEIVERS, *args.extra)
    for path in args.paths or _default_paths(root):
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            text = file.read_text()
            new = _rewrite_calls(_rewrite_imports(text, root, set(verbs.values())), verbs, receivers)
            new = _replace_verbs(new)
            _report_removed(file, new)
            if new != text:
                file.write_text(new)
                print(f"rewrote {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
