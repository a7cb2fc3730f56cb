"""Browser-test fixtures: the real viewer under uvicorn on 127.0.0.1, a seeded SQLite store, and Debian's Chromium
driven by Playwright in a fresh profile. Nothing is downloaded: ``playwright install`` is never run.

Like the service tests, these skip only when Chromium or Playwright is absent AND ``CI`` is unset; in CI they fail.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from store import LinkWrite, MessageWrite, ParticipantWrite, PlanWrite, Store
from store.shapes import ClientRow, CodeWrite, ContactRow, LeadWrite, RecordRow, UserRow
from tests.conftest import FIXTURES, ROOT, free_port, require_service, sqlite_url
from web.app import create_app
from web.auth.passwords import hash_password
from web.pagekit import utc_now

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Dialog, Page, Playwright, Request, Response, Route

#: Debian's Chromium (``apt-get install chromium``); Playwright drives it instead of a browser build of its own.
CHROMIUM = os.environ.get("MAILASSIST_CHROMIUM", "/usr/bin/chromium")
#: Headless, and quiet: no sandbox (we run as root), and none of Chromium's own calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Milliseconds Playwright waits for a page or an element before failing the test.
TIMEOUT_MS = 15_000
HOSTILE = FIXTURES / "html" / "hostile"

EMAIL = "anna@crm.example.com"
PASSWORD = "correct horse battery"
CLIENT = "Acme Logistics"
RECORD = "OP-101"
LEAD = "marta@baltic-freight.pl"
#: A word only the searchable message contains.
SEARCH_WORD = "zebrafish"
SEARCH_SUBJECT = "Fleet renewal offer"
HOSTILE_SUBJECT = "Quarterly numbers <script>document.title='pwned'</script>"
#: A marker the hostile message's scripts would write into the page if any of them ran.
PWNED = "pwned"
SIDE_EFFECTS_NAME = "side_effects"
#: Extra hostile markup whose scripts leave a mark a test can read (the corpus itself only calls ``alert``).
SIDE_EFFECTS = f"""
<script>window.name = "{PWNED}"; document.title = "{PWNED}";</script>
<img src="x" onerror="window.name='{PWNED}'; document.title='{PWNED}'">
<svg onload="document.title='{PWNED}'"><circle r="1"/></svg>
<body onload="top.document.title='{PWNED}'">
<iframe srcdoc="<script>parent.document.title='{PWNED}'</script>"></iframe>
<a id="autoclick" href="javascript:document.title='{PWNED}'">click me</a>
<meta http-equiv="refresh" content="0;url=javascript:document.title='{PWNED}'">
<img src="https://tracker.example/open.gif?u=anna" width="1" height="1">
<img src="http://evil.example/pixel.png">
"""


def artifacts_dir() -> Path:
    """Where browser tests leave screenshots: ``$ARTIFACTS_DIR`` or ``artifacts/browser/`` in the checkout."""
    base = os.environ.get("ARTIFACTS_DIR")
    path = Path(base) if base else ROOT / "artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def hostile_bodies() -> dict[str, str]:
    """Each hostile fixture by name, and ``SIDE_EFFECTS``: one email each, so that no fixture's unclosed
    ``<plaintext>`` or ``<script>`` turns the ones after it into inert text."""
    bodies = {p.stem: p.read_text(encoding="utf-8") for p in sorted(HOSTILE.glob("*.html"))}
    assert len(bodies) > 20, f"hostile corpus missing under {HOSTILE}"
    return {SIDE_EFFECTS_NAME: SIDE_EFFECTS, **bodies}


# --- the seeded store -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """IDs of what ``seed`` filed."""

    client: int
    contact: int
    offer: int  #: the message the search finds: to Acme's contact, linked to the contact, the client and a record
    hostile: dict[str, int]  #: per ``hostile_bodies`` name, the message with that HTML body
    record: int  #: Acme's deal OP-101, which the offer is filed on
    lead: int  #: an unknown sender who wrote about the offer: a lead
    receipt: str  #: the offer's inbound id (its ingest log page)

    @property
    def side_effects(self) -> int:
        """The hostile message with the hostile subject, whose scripts would leave a mark."""
        return self.hostile[SIDE_EFFECTS_NAME]


def _file(store: Store, key: str, message: MessageWrite) -> tuple[str, int]:
    """The receipt's id and the message's."""
    receipt = store.receipts.add_inbound(key.encode(), mail_from=EMAIL, rcpt_tos=["assistant@crm.example.com"]).id
    result = store.filing.apply_plan(
        receipt, PlanWrite(status="linked", reason=f"submitted by {EMAIL}", message=message)
    )
    assert result.message_id is not None
    return receipt, result.message_id


def seed(store: Store) -> World:
    """Anna (role ``all``, with a password), client Acme with contact Piotr, and emails to Piotr: one plain, the
    others with hostile HTML bodies."""
    store.directory.apply_users([UserRow(line=2, email=EMAIL, name="Anna Nowak", team="Sales", role="all")])
    assert store.auth.set_password_hash(EMAIL, hash_password(PASSWORD))
    store.directory.apply_clients([ClientRow(2, CLIENT, domains=("acme-logistics.pl",))])
    store.directory.apply_contacts([ContactRow(2, "Piotr Wiśniewski", ("piotr@acme-logistics.pl",), client=CLIENT)])
    anna = store.directory.find_users_by_addresses([EMAIL])[EMAIL].id
    piotr = store.directory.find_people(["piotr@acme-logistics.pl"]).contacts["piotr@acme-logistics.pl"]
    assert piotr.client_id is not None
    store.directory.apply_records([RecordRow(2, RECORD, "deal", "Fleet renewal 2026", client=CLIENT)])
    record = store.directory.find_records_by_codes([RECORD])[RECORD].id

    message = partial(_to_piotr, (anna, piotr.id, piotr.client_id))
    offer_mail = message(
        "<offer@crm>", SEARCH_SUBJECT, text=f"Dear Piotr, our {SEARCH_WORD} fleet offer is attached.", html=None, day=2
    )
    on_record = replace(
        offer_mail,
        links=(*offer_mail.links, LinkWrite("record", "code", entity_id=record)),
        codes=(CodeWrite(RECORD, record),),
    )
    receipt, offer = _file(store, "<offer@crm>", on_record)
    _file(store, "<question@baltic>", _from_a_lead(anna))
    hostile = {}
    for name, html in hostile_bodies().items():
        key = f"<{name}@hostile>"
        subject = HOSTILE_SUBJECT if name == SIDE_EFFECTS_NAME else f"Hostile HTML: {name}"
        hostile[name] = _file(store, key, message(key, subject, text="Plain text part.", html=html, day=3))[1]
    lead_id = store.directory.find_people([LEAD]).leads[LEAD].id
    return World(piotr.client_id, piotr.id, offer, hostile, record=record, lead=lead_id, receipt=receipt)


def _to_piotr(
    ids: tuple[int, int, int], key: str, subject: str, *, text: str, html: str | None, day: int
) -> MessageWrite:
    """Anna's mail to Piotr on ``day`` of March 2026, filed on him and on Acme (``ids``: Anna's, Piotr's, Acme's)."""
    anna, piotr, acme = ids
    return MessageWrite(
        dedupe_key=key,
        message_id_header=key,
        subject=subject,
        date=datetime(2026, 3, day, 9, 30, tzinfo=UTC),
        from_name="Anna Nowak",
        from_address=EMAIL,
        direction="outgoing",
        kind="bcc",
        submitter_user_id=anna,
        body_text=text,
        body_html=html,
        note=None,
        raw_sha256=hashlib.sha256(key.encode()).hexdigest(),
        participants=(
            ParticipantWrite("from", EMAIL, "Anna Nowak", True, None, None, None),
            ParticipantWrite("to", "piotr@acme-logistics.pl", "Piotr Wiśniewski", False, "contact", piotr, "address"),
        ),
        links=(
            LinkWrite("user", "submitter", entity_id=anna),
            LinkWrite("contact", "address", entity_id=piotr),
            LinkWrite("client", "address", entity_id=acme),
        ),
    )


def _from_a_lead(anna: int) -> MessageWrite:
    """Marta, whom the directory does not know, asks Anna about the offer: she becomes a lead."""
    return MessageWrite(
        dedupe_key="<question@baltic>",
        message_id_header="<question@baltic>",
        subject=f"Question about {RECORD}",
        date=datetime(2026, 3, 4, 11, 15, tzinfo=UTC),
        from_name="Marta Zielińska",
        from_address=LEAD,
        direction="incoming",
        kind="redirect",
        submitter_user_id=anna,
        body_text="Hello Anna, could the fleet offer include winter tyres?",
        body_html=None,
        note=None,
        raw_sha256=hashlib.sha256(b"<question@baltic>").hexdigest(),
        participants=(
            ParticipantWrite("from", LEAD, "Marta Zielińska", False, None, None, None),
            ParticipantWrite("to", EMAIL, "Anna Nowak", True, None, None, None),
        ),
        links=(LinkWrite("user", "submitter", entity_id=anna), LinkWrite("lead", "new-lead", lead_address=LEAD)),
        new_leads=(LeadWrite(LEAD, "Marta Zielińska", "Baltic Freight", anna),),
    )


def viewer_pages(world: World) -> dict[str, str]:
    """Every page of the viewer behind the login, by a short name (the screenshot tests name their files after it):
    the accessibility and screenshot tests both visit these."""
    return {
        "dashboard": "/",
        "messages": "/messages",
        "message": f"/messages/{world.offer}",
        "clients": "/clients",
        "client": f"/clients/{world.client}",
        "contacts": "/contacts",
        "contact": f"/contacts/{world.contact}",
        "leads": "/leads",
        "lead": f"/leads/{world.lead}",
        "records": "/records",
        "record": f"/records/{world.record}",
        "codes": "/codes",
        "users": "/users",
        "inbound": "/inbound",
        "receipt": f"/inbound/{world.receipt}",
    }


@pytest.fixture
def browser_store(tmp_path: Path) -> Iterator[Store]:
    """An opened SQLite store (browser tests need one backend only: the pages are the same over both)."""
    s = Store(sqlite_url(tmp_path), tmp_path / "blobs")
    s.open(upgrade=True)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def world(browser_store: Store) -> World:
    return seed(browser_store)


# --- the server -----------------------------------------------------------------------------------------------


@pytest.fixture
def app_clock() -> Callable[[], datetime]:
    """The viewer's "now" (``create_app(clock=...)``): the real one; a test module overrides it to freeze it."""
    return utc_now


@pytest.fixture
def base_url(browser_store: Store, world: World, app_clock: Callable[[], datetime]) -> Iterator[str]:
    """The viewer over the seeded store, served by uvicorn on a free 127.0.0.1 port in a background thread."""
    port = free_port()
    app = create_app(browser_store, secret_key="browser-test-" + "k" * 32, secure_cookies="never", clock=app_clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)  # off the main thread, uvicorn leaves pytest's signal handlers alone
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn exited during startup"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# --- the browser ----------------------------------------------------------------------------------------------


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    """Playwright's driver; skipped outside CI when the package or Chromium is missing, failed in CI."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("the playwright package (pip install -e '.[dev]')", False)
        raise
    require_service(f"Chromium at {CHROMIUM} (apt-get install chromium)", shutil.which(CHROMIUM) is not None)
    with sync_playwright() as p:
        yield p


@dataclass
class Traffic:
    """Every request the browser made, and every dialog a page opened (there must be none)."""

    origin: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        """Requests to anywhere but the test server (``data:`` and ``about:`` never leave the browser)."""
        return [u for u in self.requests if not u.startswith((self.origin + "/", "data:", "about:"))]


@pytest.fixture
def context_options() -> dict[str, Any]:
    """More options for the browser context (Playwright's ``launch_persistent_context``); a module may add some."""
    return {}


@pytest.fixture
def context(
    playwright: Playwright, base_url: str, tmp_path: Path, context_options: dict[str, Any]
) -> Iterator[BrowserContext]:
    """A Chromium in a fresh profile under ``tmp_path``, whose requests off the test server are aborted."""
    profile = tmp_path / "chromium-profile"
    assert not profile.exists()
    ctx = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        base_url=base_url,
        viewport={"width": 1280, "height": 1000},
        service_workers="block",
        **context_options,
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def traffic(context: BrowserContext, base_url: str) -> Traffic:
    """Records the context's requests and 5xx answers; anything bound off the test server is aborted, not sent."""
    seen = Traffic(origin=base_url)

    def on_request(request: Request) -> None:
        seen.requests.append(request.url)

    def on_response(response: Response) -> None:
        if response.status >= 500:
            seen.server_errors.append(f"{response.status} {response.url}")

    def only_ours(route: Route) -> None:
        if route.request.url.startswith(base_url + "/"):
            route.continue_()
        else:
            route.abort()

    context.on("request", on_request)
    context.on("response", on_response)
    context.route("**/*", only_ours)
    return seen


@pytest.fixture
def page(context: BrowserContext, traffic: Traffic) -> Iterator[Page]:
    """The context's page. Dialogs of any page in the context (popups too) are recorded and dismissed."""

    def on_dialog(dialog: Dialog) -> None:
        traffic.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    context.on("dialog", on_dialog)
    yield context.pages[0] if context.pages else context.new_page()
    assert not traffic.server_errors, f"the server answered 5xx: {traffic.server_errors}"


def log_in(page: Page, email: str = EMAIL, password: str = PASSWORD) -> None:
    """Fill the login form and submit it, as a person would; return once the browser has left the form."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login(\?|$)"))
