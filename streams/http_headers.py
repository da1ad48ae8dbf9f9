"""Security and caching headers on every HTTP response of every service (dashboard, worker, notifier)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

#: Sent on every response, errors (400/401/404/413/5xx) and the event stream included.
SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    # No URL of ours (alert ids, filters) is ever sent to another site in a Referer.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
#: Patient data must not stay in a browser's or a proxy's cache: nothing is cached, the page included.
CACHE_CONTROL: Final = "no-store"


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    cache = response.headers.get("Cache-Control", "")
    if "no-store" not in cache:
        response.headers["Cache-Control"] = CACHE_CONTROL


def harden(app: web.Application) -> None:
    """Add the headers as each response is prepared: that also covers errors aiohttp builds itself and
    streamed responses, which a middleware returning after the handler would miss."""
    app.on_response_prepare.append(_add_headers)
