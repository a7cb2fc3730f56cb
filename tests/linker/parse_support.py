"""Reading the parse fixtures (``tests/fixtures/parse``) with linker.parse, as the parse tests do."""

from __future__ import annotations

from pathlib import Path

from linker.model import ParsedMessage
from linker.parse import parse_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "parse"
DASH = "\u2013"  # what mail clients put in subjects and file names


def load(name: str) -> ParsedMessage:
    return parse_message((FIXTURES / name).read_bytes())
