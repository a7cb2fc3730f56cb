"""The directory sync API tests' client: a viewer app with Anna's tokens, and the import rules it runs with."""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from mailassist import importer
from store import Store
from store.models import Record, User
from tests.store.test_relink import ANNA
from web.auth.passwords import hash_api_token, new_api_token
from web.directory_api import DirectoryRules

RULES = DirectoryRules(
    parse_row=functools.partial(importer.json_row, codes={"OP": "deal"}),
    natural_key=importer.natural_key,
    relink_scope=importer.relink_scope,
    free_mail_domains=("gmail.com",),
)
NDJSON = {"Content-Type": "application/x-ndjson"}


class Api:
    """A viewer app over the store, with Anna's tokens: ``write`` (``directory:write``) and ``read``."""

    def __init__(self, store: Store, client: TestClient) -> None:
        self.store = store
        self.client = client
        anna = store.directory.find_users_by_addresses([ANNA.email])[ANNA.email].id
        self.tokens = {}
        for scope in ("directory:write", "read"):
            self.tokens[scope] = new_api_token()
            store.auth.add_api_token(anna, scope, hash_api_token(self.tokens[scope]), scopes=[scope])

    def auth(self, scope: str = "directory:write") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def put(self, path: str, row: dict[str, Any], scope: str = "directory:write") -> Any:
        return self.client.put(f"/api/directory/{path}", json=row, headers=self.auth(scope))

    def bulk(self, kind: str, lines: list[Any] | str) -> Any:
        body = lines if isinstance(lines, str) else "\n".join(json.dumps(line) for line in lines) + "\n"
        return self.client.post(f"/api/directory/{kind}", content=body, headers={**NDJSON, **self.auth()})

    def delete(self, path: str) -> Any:
        return self.client.delete(f"/api/directory/{path}", headers=self.auth())


def names(store: Store, model: Any) -> list[str]:
    column = model.code if model is Record else model.email if model is User else model.name
    with Session(store.engine) as session:
        return sorted(session.scalars(select(column)))


NO_RELINK = {
    "codes_resolved": 0,
    "leads_converted": 0,
    "participants_matched": 0,
    "links_added": 0,
    "record_links": 0,
    "contact_links": 0,
    "client_links": 0,
}
