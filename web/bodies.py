"""Request bodies of the API's write routes, read within a limit."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLargeError(Exception):
    """A request body is over the route's limit."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to be over ``limit`` bytes (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)
