"""Reading the viewer's HTML pages in tests: the message ids a list shows, and the checks every page passes."""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.testclient import TestClient

ClientFor = Callable[[str | None], TestClient]

_ROW_LINK = re.compile(r'<a href="/messages/(\d+)">')


def listed_ids(page_html: str) -> list[int]:
    """The message ids a list page links to, in order."""
    return [int(i) for i in _ROW_LINK.findall(page_html)]


#: The one script a page may load: the list keys, from our own static files (the CSP allows 'self' only).
OWN_SCRIPT = '<script src="/static/keys.js" defer></script>'


def assert_page(response_text: str) -> None:
    """Nothing the default CSP would block: no script but our own file, no inline style."""
    lowered = response_text.lower().replace(OWN_SCRIPT, "")
    assert "<script" not in lowered
    assert " style=" not in lowered
    assert "<style" not in lowered
