"""The response headers the viewer sets, in one place: the Content-Security-Policy strings, the security headers on
every response, and what private answers and downloads add.

The policies are built from one default so that a page that needs more (the message page embeds a frame) widens
the default by exactly that, and cannot drift from it.
"""

from __future__ import annotations

from store.safehtml import CSP_FOR_EMAIL_FRAME

#: The default policy: our own scripts, styles and images only (no inline ones), forms post back here, never framed.
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: The default policy plus our own frames: the message page embeds the sanitized body.
MESSAGE_PAGE_CSP = f"{DEFAULT_CSP}; frame-src 'self'"
#: Added to every response that does not set the header itself; a route overrides one by setting it (the
#: sanitized email document for the message page's iframe sets its own CSP and frame options).
SECURITY_HEADERS = {
    "Content-Security-Policy": DEFAULT_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: Data responses are per user: never kept by a shared cache or the browser's. ``web.app`` adds it to every
#: response on a path behind the login; routes that answer on their own (the API, metrics) set it themselves.
NO_STORE = {"Cache-Control": "no-store"}
#: Every file download: the browser must not guess a type and render it.
DOWNLOAD_HEADERS = {"X-Content-Type-Options": "nosniff"}
#: Headers of the sanitized email document: its own strict CSP, and framable by our own pages only.
EMAIL_FRAME_HEADERS = {
    "Content-Security-Policy": CSP_FOR_EMAIL_FRAME,
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
}


def hsts_headers(max_age: int) -> dict[str, str]:
    """``Strict-Transport-Security`` for ``max_age`` seconds; none for 0. Browsers heed it over HTTPS only."""
    return {"Strict-Transport-Security": f"max-age={max_age}"} if max_age > 0 else {}
