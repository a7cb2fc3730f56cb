"""A local webhook receiver and the helpers the webhook tests share to configure endpoints and queue deliveries."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mailassist.webhooks import Endpoint
from store import Store
from store.webhooks import DeliveryWrite

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ASSISTANT = "assistant@crm.example.com"
ANNA = "anna.nowak@example.com"


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each request with the next of ``answers`` (then 200); ``"hang"``
    holds the request until the test ends."""

    def __init__(self) -> None:
        self.answers: list[int | str] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.answers.pop(0) if receiver.answers else 200
                receiver.arrived.set()
                if answer == "hang":
                    receiver.release.wait(30)
                    return
                assert isinstance(answer, int)
                self.send_response(answer)
                self.send_header("content-length", "5")
                self.end_headers()
                self.wfile.write(b"nope\n" if answer >= 300 else b"ok\r\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def endpoint(url: str, name: str = "crm", events: tuple[str, ...] = ("message.filed",), **kw: Any) -> Endpoint:
    return Endpoint(name=name, url=url, events=frozenset(events), secret=SECRET, **kw)


def queue_delivery(store: Store, ep: Endpoint, event: str = "message.filed", event_id: str = "msg_1") -> int:
    (inbound_id,) = [store.receipts.add_inbound(b"Subject: x\r\n\r\nbody\r\n", mail_from=ANNA, rcpt_tos=[ASSISTANT]).id]
    body = json.dumps({"type": event, "version": 1, "id": event_id, "data": {"receipt_id": inbound_id}})
    store.receipts.mark_processed(
        inbound_id, "linked", outbox=lambda _: [DeliveryWrite(event_id, ep.name, ep.url, event, body, inbound_id)]
    )
    (row,) = store.webhooks.list_deliveries(endpoint=ep.name, limit=1)
    return row.id


def write_config(tmp_path: Path, *blocks: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///unused.db"\nblob_dir = "blobs"\n'
        f'[assistant]\naddresses = ["{ASSISTANT}"]\n[organization]\ndomains = ["example.com"]\n' + "".join(blocks)
    )
    return path


def webhook_block(name: str, url: str, events: list[str], extra: str = "") -> str:
    return f'[[webhooks]]\nname = "{name}"\nurl = "{url}"\nevents = {json.dumps(events)}\nsecret = "{SECRET}"\n{extra}'
