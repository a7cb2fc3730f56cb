"""Directory indexes: ``/clients``, ``/contacts``, ``/leads``, ``/records`` and (role ``all``) ``/users``.

Each is searched (``q``: name, address or code), sorted (``sort``: ``name``, ``count`` of linked mail, ``last``
contact; leads also ``new``, their default), and paged by keyset (``after``, ``limit``). Counts and dates cover the
mail the viewer may see: the store counts inside its visibility condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from store import BadCursorError, LoginView, Viewer
from store.index_kinds import SORTS
from store.indexes import MAX_INDEX_PAGE, MAX_INDEX_QUERY
from store.page_shapes import IndexPage
from web.auth.middleware import require_user
from web.errors import FilterError
from web.pagekit import Endpoint, PageKit, get_routes
from web.params import parse_limit

#: Entries per page unless ``limit`` says otherwise.
INDEX_LIMIT = 50
#: What each sort is called on the page.
SORT_LABELS = {"name": "Name", "count": "Linked mail", "last": "Last contact", "new": "Newest"}
#: The page title of each index, and for records what their name is.
TITLES = {"clients": "Clients", "contacts": "Contacts", "leads": "Leads", "records": "Records", "users": "Users"}


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """A parsed index request."""

    q: str | None
    sort: str
    after: str | None
    limit: int
    #: ``limit`` as given (``None`` when blank), kept in the page's links.
    limit_param: str | None


def parse_index_query(index: str, params: Mapping[str, str]) -> IndexQuery:
    """``q``, ``sort``, ``after`` and ``limit`` of an index; ``FilterError`` naming a bad one."""
    q = params.get("q", "").strip() or None
    if q is not None and len(q) > MAX_INDEX_QUERY:
        raise FilterError("q", f"at most {MAX_INDEX_QUERY} characters")
    sorts = SORTS[index]
    sort = params.get("sort", "").strip().lower() or sorts[0]
    if sort not in sorts:
        raise FilterError("sort", f"must be one of {', '.join(sorts)}, not {sort[:40]!r}")
    limit = parse_limit(params, INDEX_LIMIT, MAX_INDEX_PAGE)
    after = params.get("after", "").strip() or None
    return IndexQuery(q, sort, after, limit, params.get("limit", "").strip() or None)


def _url(path: str, query: IndexQuery, **more: str | None) -> str:
    """``path`` with the query's search, sort and limit (and ``more``), blank ones left out."""
    params = {"q": query.q, "sort": query.sort, "limit": query.limit_param, **more}
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


class IndexPages:
    """The handlers; ``index_routes`` maps them to paths."""

    def __init__(self, kit: PageKit) -> None:
        self.kit = kit

    def index_page(self, index: str, *, admins_only: bool = False) -> Endpoint:
        """The handler of one index (``clients``, ``contacts``…); ``admins_only`` for role ``all`` only."""
        kit, store = self.kit, self.kit.store
        path = f"/{index}"

        async def page(request: Request) -> Response:
            # The users index names every user with role and team: for role ``all`` only, like the ingest log.
            if admins_only and require_user(request).role != "all":
                return kit.not_found(request)
            try:
                query = parse_index_query(index, request.query_params)
            except FilterError as exc:
                return kit.bad_request(request, str(exc))

            def fetch(user: LoginView, viewer: Viewer) -> IndexPage | str:
                try:
                    return store.queries.list_index(
                        viewer, index, q=query.q, sort=query.sort, after=query.after, limit=query.limit
                    )
                except BadCursorError as exc:
                    return f"after: {exc}"

            found = await kit.load(request, fetch)
            if isinstance(found, str):
                return kit.bad_request(request, found)
            sorts = [
                (s, SORT_LABELS[s], _url(path, IndexQuery(query.q, s, None, query.limit, query.limit_param)))
                for s in SORTS[index]
            ]
            context = {
                "nav": index,
                "index": index,
                "title": TITLES[index],
                "path": path,
                "items": found.items,
                "q": query.q or "",
                "sort": query.sort,
                "default_sort": SORTS[index][0],
                "sorts": sorts,
                "limit": query.limit_param or "",
                "next_url": _url(path, query, after=found.next) if found.next else None,
                "first_url": _url(path, query) if query.after else None,
            }
            return kit.render(request, "index.html", context)

        return page


def index_routes(kit: PageKit) -> list[BaseRoute]:
    """``/clients``, ``/contacts``, ``/leads``, ``/records``, ``/users``."""
    pages = IndexPages(kit)
    table = {f"/{index}": pages.index_page(index) for index in ("clients", "contacts", "leads", "records")}
    return get_routes({**table, "/users": pages.index_page("users", admins_only=True)})
