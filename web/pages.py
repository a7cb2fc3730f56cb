"""The viewer's HTML pages, gathered for ``create_app``: messages with their downloads and CSV export
(``web.message_pages``), the dashboard and directory pages (``web.directory_pages``), the directory indexes
(``web.index_pages``) and the ingest log with its receipts (``web.ingest_pages``).

Each module is a class of thin handlers and a function with its route table; what they share is ``web.pagekit``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from web.directory_pages import directory_routes
from web.index_pages import index_routes
from web.ingest_pages import ingest_routes
from web.message_pages import message_routes
from web.pagekit import PageKit


def page_routes(kit: PageKit) -> list[BaseRoute]:
    """Every HTML page of the viewer: dashboard, messages (with CSV export and downloads), directory, ingest log."""
    return [*message_routes(kit), *directory_routes(kit), *index_routes(kit), *ingest_routes(kit)]
