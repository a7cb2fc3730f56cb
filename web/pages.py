"""The viewer's HTML pages, gathered for ``create_app``: messages with their downloads and CSV export
(``web.message_pages``), the dashboard and directory pages (``web.directory_pages``), the directory indexes
(``web.index_pages``) and the ingest log with its receipts (``web.ingest_pages``).

A handler reads its parameters, asks the store in one thread-pool hop (the store is synchronous), then renders a
template, a 404 or a 400. Visibility is the store's job: a message the viewer may not see comes back as ``None``
and is answered exactly like one that does not exist.
"""

from __future__ import annotations

from starlette.routing import BaseRoute
from starlette.templating import Jinja2Templates

from store import Store
from web.directory_pages import directory_routes
from web.index_pages import index_routes
from web.ingest_pages import ingest_routes
from web.message_pages import message_routes
from web.pagekit import PageKit


def page_routes(store: Store, templates: Jinja2Templates) -> list[BaseRoute]:
    """Every HTML page of the viewer: dashboard, messages (with CSV export and downloads), directory, ingest log."""
    kit = PageKit(store, templates)
    return [*message_routes(kit), *directory_routes(kit), *index_routes(kit), *ingest_routes(kit)]
