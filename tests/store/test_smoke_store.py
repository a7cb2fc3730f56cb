from __future__ import annotations

from store import Store


def test_add_and_get_inbound(store: Store) -> None:
    view = store.add_inbound(b"Subject: x\r\n\r\nbody\r\n", mail_from="a@example.com", rcpt_tos=["b@x.test"])
    got = store.get_inbound(view.id)
    assert got == view
    assert store.get_raw(view.sha256) == b"Subject: x\r\n\r\nbody\r\n"
