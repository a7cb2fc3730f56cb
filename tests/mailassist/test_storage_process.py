"""``smtp.storage_process``: ``mailassist smtp`` stores mail in a child process of its own when the key is on (the
default), on threads of its own when it is off; the mail is stored and the child ends with the server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from store import Store
from tests.conftest import free_port
from tests.support import USER, make_message, running, seed_user, send_queued, write_config

pytestmark = [pytest.mark.slow, pytest.mark.redis]

#: A database of its own: nobody consumes the wake-up sent here, and the test deletes it.
REDIS_URL = "redis://127.0.0.1:6379/14"


def _children(pid: int) -> list[int]:
    return [
        int(c)
        for task in os.listdir(f"/proc/{pid}/task")
        for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
    ]


@pytest.mark.parametrize("storage_process", [True, False])
def test_smtp_stores_in_a_child_process_when_configured(
    tmp_path: Path, redis_available: None, storage_process: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'mailassist.db'}"
    blob_dir = tmp_path / "blobs"
    seed_user(url, blob_dir, USER)
    port = free_port()
    smtp: dict[str, object] = {"listen": f"127.0.0.1:{port}"}
    if not storage_process:
        smtp["storage_process"] = False  # the default is on
    config = write_config(
        tmp_path / "mailassist.toml",
        {
            "smtp": smtp,
            "store": {"url": url, "blob_dir": str(blob_dir)},
            "queue": {"broker": REDIS_URL},
        },
    )
    with running(config, "smtp", log_path=tmp_path / "smtp.log") as child:
        children = _children(child.proc.pid)
        queued = send_queued(port, make_message(1, tag="storage-process"))
        assert child.stop(timeout=40) == 0, child.log_text()[-3000:]
        events = child.events()
        # Checked before the teardown kills whatever is left of the server's session
        if storage_process and children:
            with pytest.raises(FileNotFoundError):  # it ended with the server
                Path(f"/proc/{children[0]}/stat").read_text()
    started = [e for e in events if e.get("event") == "storage process started"]
    # The wake-up went out (from whichever process stored the mail)
    assert not [e for e in events if "queue send" in str(e.get("event"))], events
    client = redis.Redis.from_url(REDIS_URL)
    try:
        queued_messages = [v for key in client.scan_iter("dramatiq:*.msgs") for v in client.hvals(key)]
        assert any(queued.encode() in m for m in queued_messages)
        client.delete(*client.scan_iter("dramatiq:*"))
    finally:
        client.close()
    if storage_process:
        assert len(children) == 1 and [e["pid"] for e in started] == children
    else:
        assert children == [] and started == []
    store = Store(url, blob_dir)
    try:
        row = store.receipts.get_inbound(queued)
    finally:
        store.close()
    assert row is not None and row.status == "queued"
