"""Host check (DNS rebinding) and cross-site request refusal (CSRF) for the dashboard's HTTP server."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorResponse = Callable[[int, str, str], web.Response]

_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _listening_on_loopback(request: web.Request) -> int | None:
    """The local port when the connection came in on a loopback address, else None."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not sockname:
        return None
    try:
        return int(sockname[1]) if ipaddress.ip_address(sockname[0]).is_loopback else None
    except ValueError:
        return None


def request_guard(public_url: str, error: ErrorResponse) -> Middleware:
    """A middleware refusing requests for another host and state changes from another origin.

    Allowed: the Host and Origin of `public_url`, and, for a connection to a loopback address, the
    loopback names with the local port. Any other Host gets 421 (a DNS-rebinding page names its own host).
    A POST (or other unsafe method) whose Origin is another site gets 403, and one without a JSON body
    415: a cross-site HTML form can only send form or text/plain bodies, and a no-cors fetch cannot send
    JSON, so neither can act as the signed-in user (issue 10). A client without an Origin header (curl,
    a machine with a bearer token) is not a browser on another site and is let through.
    """
    public = urlsplit(public_url)
    public_host = public.netloc.lower()
    public_origin = _origin(public_url)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host", "").lower()
        allowed_hosts = {public_host}
        allowed_origins = {public_origin}
        port = _listening_on_loopback(request)
        if port is not None:
            allowed_hosts |= {f"{name}:{port}" for name in _LOOPBACK_NAMES}
            allowed_origins |= {f"http://{name}:{port}" for name in _LOOPBACK_NAMES}
        if host not in allowed_hosts:
            return error(421, "unknown_host", "this server does not serve that host name")
        # Safe methods change nothing; an unknown route or method gets its own 404 or 405.
        if request.method in _SAFE_METHODS or request.match_info.http_exception is not None:
            return await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in allowed_origins:
            return error(403, "cross_origin", "requests from another site are refused")
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            return error(403, "cross_origin", "requests from another site are refused")
        if request.content_type != "application/json":
            return error(415, "unsupported_media_type", "send the body as application/json")
        return await handler(request)

    return guard
