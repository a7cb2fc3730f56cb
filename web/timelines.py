"""The filters of a directory page's timeline (client, contact, lead, record) as query parameters, kept in the URL.

Parameters (all optional; others are ignored, as on ``/messages``):

- ``kind``: ``bcc``, ``forward`` or ``redirect``; ``direction``: ``incoming`` or ``outgoing``
- ``person``: an address in From, To or Cc; ``submitter``: the id of the user who filed the mail
- ``from`` and ``to``: dates, as on ``/messages`` (``web.filters``), in the viewer's time zone
- ``after``: the ``next`` cursor of the previous page

A bad value raises ``FilterError`` naming the parameter: the page answers 400 saying so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from urllib.parse import urlencode

from store import MessageFilter
from web.errors import FilterError
from web.filters import parse_filter
from web.params import parse_after

#: The filter parameters a timeline reads, in the order its links carry them.
TIMELINE_PARAMS = ("kind", "direction", "person", "submitter", "from", "to")
#: The ``/messages`` parameters that filter the same way (``person`` has no equal there).
LIST_PARAMS = ("kind", "direction", "submitter", "from", "to")
#: Longest address a participant row holds (``participants.address``).
MAX_ADDRESS = 320


@dataclass(frozen=True, slots=True)
class TimelineQuery:
    """A parsed timeline request: the message filter (with the page's entity), the person, and the cursor."""

    filter: MessageFilter
    person: str | None
    after: str | None
    #: The non-empty filter parameters as given, for the form, the pager and the message list link.
    params: dict[str, str]


def _person(params: Mapping[str, str]) -> str | None:
    value = params.get("person", "").strip()
    if not value:
        return None
    if len(value) > MAX_ADDRESS or "@" not in value or any(c.isspace() for c in value):
        raise FilterError("person", f"must be an email address, not {value[:40]!r}")
    return value.lower()


def parse_timeline(params: Mapping[str, str], entity: MessageFilter, *, zone: tzinfo = UTC) -> TimelineQuery:
    """The timeline the query parameters ask for, of the entity whose mail ``entity`` filters; dates without an
    offset in ``zone`` (the viewer's, ``web.timezone``)."""
    given = {name: params[name].strip() for name in TIMELINE_PARAMS if params.get(name, "").strip()}
    asked = parse_filter({name: value for name, value in given.items() if name in LIST_PARAMS}, zone=zone)
    f = dataclasses.replace(
        entity,
        kind=asked.kind,
        direction=asked.direction,
        submitter_id=asked.submitter_id,
        date_from=asked.date_from,
        date_to=asked.date_to,
    )
    return TimelineQuery(f, _person(params), parse_after(params), given)


def timeline_url(path: str, query: TimelineQuery, *, after: str | None = None) -> str:
    """The timeline at ``path`` with the query's filters, starting after ``after``."""
    params = dict(query.params)
    if after is not None:
        params["after"] = after
    return f"{path}?{urlencode(params)}" if params else path


def list_url(kind: str, entity_id: int, query: TimelineQuery) -> str:
    """``/messages`` listing the same entity's mail with the filters it shares with the timeline."""
    shared = {name: value for name, value in query.params.items() if name in LIST_PARAMS}
    return f"/messages?{urlencode({kind: str(entity_id), **shared})}"
