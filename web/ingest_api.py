"""``POST /api/ingest``: one raw email (``Content-Type: message/rfc822``) handed in with an ``ingest`` token, taken
by the same durable intake as SMTP and answered with the same policy decision, as JSON.

The token is its user's own credential (proof ``api``, like a personal assistant address): the message is filed
for that user whatever its headers say. Session cookies never write (DESIGN.md invariant 7): only a bearer token
reaches this route (``web.auth.middleware``). What takes the message is given to ``create_app`` (``IngestFn``, built in
``mailassist.build``), so ``web`` still imports nothing but ``store``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from store import StoreError
from web.auth.middleware import require_user
from web.bodies import BodyTooLargeError, read_body
from web.errors import RETRY_AFTER_SECONDS
from web.headers import NO_STORE

#: What SMTP answers when storage fails: the sender keeps the message and retries.
TEMPORARY_FAILURE = "451 4.3.0 Temporary storage failure, please try again later"
MEDIA_TYPE = "message/rfc822"


@dataclass(frozen=True, slots=True)
class IngestAnswer:
    """What the intake answered: the receipt (``inbound_id``; ``duplicate`` when this user had handed in these
    exact bytes before, and that receipt is the answer), or the SMTP ``reply`` that refuses it."""

    inbound_id: str | None
    reply: str
    submitter: str | None = None
    proof: str | None = None
    duplicate: bool = False


#: Take ``raw`` for the user with this primary address; raises ``StoreError`` when the store is down.
IngestFn = Callable[[bytes, str], IngestAnswer]


def _error(status: int, error: str, **extra: object) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse({"error": error, **extra}, status_code=status, headers=headers)


def too_big_reply(limit: int) -> str:
    """SMTP's 552 for a message over ``smtp.max_message_size``."""
    return f"552 5.3.4 Message too big for system: the limit is {limit} bytes"


def split_reply(reply: str) -> dict[str, str]:
    """``550 5.7.1 text`` → ``{"code": "550", "enhanced": "5.7.1", "reason": "text"}``."""
    code, _, rest = reply.partition(" ")
    enhanced, _, reason = rest.partition(" ")
    if not (enhanced[:1].isdigit() and enhanced.count(".") == 2):
        enhanced, reason = "", rest
    return {"code": code, "enhanced": enhanced, "reason": reason}


class IngestApi:
    """The handler over the intake (``None``: none wired, the route answers 503); ``ingest_routes`` gives it its
    path."""

    def __init__(self, ingest: IngestFn | None, max_size: int) -> None:
        self.ingest = ingest
        self.max_size = max_size

    async def post(self, request: Request) -> Response:
        """``POST /api/ingest``: the raw message in, the intake's decision out (202 new, 200 duplicate)."""
        user = require_user(request)
        if "authorization" not in request.headers:
            # The gate lets no session write under /api/; this route never relies on that alone.
            return _error(401, "writes take an API token with the 'ingest' scope, never a session")
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != MEDIA_TYPE:
            return _error(415, f"send the raw message as Content-Type: {MEDIA_TYPE}")
        try:
            raw = await read_body(request, self.max_size)
        except BodyTooLargeError:
            reply = too_big_reply(self.max_size)
            return _error(413, "message too big", limit=self.max_size, reply=reply, **split_reply(reply))
        except ClientDisconnect:
            return _error(400, "the body did not arrive")
        if self.ingest is None:
            return _error(503, "ingest is not available in this process", reply=TEMPORARY_FAILURE)
        try:
            answer = await run_in_threadpool(self.ingest, raw, user.email)
        except StoreError as exc:
            return _error(503, f"storage unavailable: {exc}", reply=TEMPORARY_FAILURE, **split_reply(TEMPORARY_FAILURE))
        return _answer(answer)


def _answer(answer: IngestAnswer) -> Response:
    """The intake's decision as JSON: the receipt, or the SMTP reply that refused the message."""
    if answer.inbound_id is None:
        parts = split_reply(answer.reply)
        status = 503 if answer.reply.startswith("4") else 422
        return _error(status, parts["reason"], reply=answer.reply, **parts)
    body = {
        "receipt": answer.inbound_id,
        "status": "duplicate" if answer.duplicate else "queued",
        "duplicate": answer.duplicate,
        "submitter": answer.submitter,
        "proof": answer.proof,
        "source": "api",
        "reply": answer.reply,
    }
    return JSONResponse(body, status_code=200 if answer.duplicate else 202, headers=NO_STORE)


def ingest_routes(ingest: IngestFn | None, *, max_size: int) -> list[Route]:
    """``POST /api/ingest``; without ``ingest`` (no intake wired) it answers 503."""
    api = IngestApi(ingest, max_size)
    return [Route("/api/ingest", api.post, methods=["POST"], name="api_ingest")]
