"""The dashboard's sign-in routes: OpenID Connect redirect and callback, token sign-in, /auth/me, sign-out."""

from __future__ import annotations

import hmac
import html
import logging
import time
from typing import Any

import orjson
from aiohttp import web

from streams.web.access import ACCESS_KEY, Access, caller_of
from streams.web.oidc import OidcClient, SignInError, display_name, new_login
from streams.web.session import (
    LOGIN_COOKIE,
    LOGIN_SECONDS,
    SESSION_COOKIE,
    Kind,
    Session,
    cookie_attributes,
    new_session,
)

log = logging.getLogger(__name__)

_LOGIN_PATH = "/auth/"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _page(title: str, text: str, *, status: int = 200, link: tuple[str, str] | None = None) -> web.Response:
    """A small HTML page without scripts or styles (the CSP allows neither inline)."""
    anchor = f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>' if link else ""
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{anchor}</body></html>"
    )
    return web.Response(text=body, status=status, content_type="text/html")


def _local_path(value: str | None) -> str:
    """Where to land after sign-in: a path on this site only (never //other.example or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _oidc(access: Access) -> OidcClient:
    assert access.oidc is not None, "the routes exist in mode oidc only"
    return access.oidc


async def login(request: web.Request) -> web.Response:
    """GET /auth/login: to the identity provider, with state, nonce and a PKCE challenge remembered.

    Without `return_to` (the redirect of an unauthenticated page), first a page whose script adds the
    address's #fragment, which the server never sees: a notification link `/#/alerts/{id}` still lands
    on that alert after sign-in.
    """
    access = request.app[ACCESS_KEY]
    client = _oidc(access)
    if "return_to" not in request.query:
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing in</title>'
            '<script src="/static/signin.js"></script></head><body><p>Signing in… '
            '<a href="/auth/login?return_to=%2F">Continue</a></p></body></html>'
        )
        return web.Response(text=body, content_type="text/html")
    state = new_login(_local_path(request.query.get("return_to")), time.time())
    try:
        target = await client.authorization_url(state)
    except SignInError as exc:
        log.warning("sign-in not started: %s", exc)
        return _page(
            "Sign-in unavailable", f"{exc}. Try again in a minute.", status=503, link=("/", "Try again")
        )
    response = web.HTTPFound(target)
    # Lax, not Strict: the provider sends the browser back with a cross-site navigation, on which a
    # Strict cookie would not be sent and the callback could not check state, nonce and verifier.
    attributes = cookie_attributes(max_age=LOGIN_SECONDS, same_site="Lax", path=_LOGIN_PATH)
    response.set_cookie(LOGIN_COOKIE, access.cookies.seal_login(state), **attributes)
    raise response


async def callback(request: web.Request) -> web.Response:
    """GET /auth/callback: state, code, ID token and role checked, then the session cookie."""
    access = request.app[ACCESS_KEY]
    client = _oidc(access)
    now = time.time()
    login_state = access.cookies.open_login(request.cookies.get(LOGIN_COOKIE), now)
    again = ("/auth/login", "Sign in again")
    if "error" in request.query:
        error = request.query.get("error", "")[:100]
        return _page("Sign-in not completed", f"The identity provider said: {error}.", status=400, link=again)
    # RFC 9207: a provider that names itself must be ours (a mix-up attack swaps providers).
    if "iss" in request.query and request.query["iss"] != client.issuer:
        return _page(
            "Sign-in refused", "The answer came from another identity provider.", status=400, link=again
        )
    offered = request.query.get("state", "")
    if login_state is None or not hmac.compare_digest(offered.encode(), login_state.state.encode()):
        return _page(
            "Sign-in expired", "This sign-in was started elsewhere or too long ago.", status=400, link=again
        )
    try:
        claims = await client.redeem(request.query.get("code", ""), login_state)
    except SignInError as exc:
        log.warning("sign-in refused: %s", exc)
        return _page("Sign-in failed", str(exc), status=502, link=again)
    role = client.roles.role(claims)
    if role is None:
        # The subject is an account id, not a patient's: it may be logged, and ops need it here.
        log.warning(
            "sign-in of %s refused: no %s value maps to a lytewatch role", claims["sub"], client.roles.claim
        )
        text = "Your account has no lytewatch role (viewer or acknowledger); ask your administrator."
        return _page("No access", text, status=403)
    session = new_session(
        "person", str(claims["sub"]), display_name(claims), role, now=now, hours=access.session_hours
    )
    log.info("signed in: %s as %s", session.subject, role)
    target = login_state.return_to
    # The session cookie is Strict, so it is not sent on this cross-site redirect chain: land with a
    # same-site navigation from our own page (meta refresh), on which it is.
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed in</title>'
        f'<meta http-equiv="refresh" content="0;url={html.escape(target)}"></head>'
        f'<body><p>Signed in. <a href="{html.escape(target)}">Continue to the dashboard</a></p></body></html>'
    )
    response = web.Response(text=body, content_type="text/html")
    _set_session(response, access, session)
    response.del_cookie(LOGIN_COOKIE, path=_LOGIN_PATH, secure=True, httponly=True, samesite="Lax")
    return response


async def token_sign_in(request: web.Request) -> web.Response:
    """POST /auth/token (token mode) with the bearer token: a session cookie, so the stream needs no token."""
    access = request.app[ACCESS_KEY]
    caller = caller_of(request)
    if access.mode != "token" or caller is None or caller.kind != "machine" or caller.session is not None:
        return _json({"error": "unauthorized", "detail": "send a valid bearer token"}, status=401)
    now = time.time()
    kind: Kind = "token" if caller.name else "shared"
    name = caller.name or "shared token"
    session = new_session(kind, name, name, "acknowledger", now=now, hours=access.session_hours)
    response = _json(_me(access, session.kind, caller.name, None, "acknowledger", session.csrf))
    _set_session(response, access, session)
    return response


def _set_session(response: web.Response, access: Access, session: Session) -> None:
    attributes = cookie_attributes(max_age=int(access.session_hours * 3600), same_site="Strict")
    response.set_cookie(SESSION_COOKIE, access.cookies.seal_session(session), **attributes)


def _me(
    access: Access,
    kind: str | None,
    name: str | None,
    subject: str | None,
    role: str | None,
    csrf: str | None,
) -> dict[str, Any]:
    return {
        "mode": access.mode,
        "signed_in": kind is not None,
        "kind": kind,
        "name": name,
        "subject": subject,
        "role": role,
        "can_acknowledge": role == "acknowledger",
        # No verified name: the page asks who acknowledges (mode none, the shared token).
        "needs_name": kind in (None, "shared"),
        "csrf_token": csrf,
    }


async def me(request: web.Request) -> web.Response:
    """GET /auth/me: who the page is signed in as, its role, and the CSRF token for its POSTs."""
    access = request.app[ACCESS_KEY]
    session = access.session(request)
    if access.mode == "none":
        return _json(_me(access, None, None, None, "acknowledger", None) | {"signed_in": True})
    if session is None or (session.kind == "person") != (access.mode == "oidc"):
        return _json(_me(access, None, None, None, None, None))
    person = session.kind == "person"
    return _json(
        _me(
            access,
            session.kind,
            session.name,
            session.subject if person else None,
            session.role,
            session.csrf,
        )
    )


async def logout(request: web.Request) -> web.Response:
    """POST /auth/logout: clear the session; answer where to go (the provider's end-session page if any)."""
    access = request.app[ACCESS_KEY]
    redirect = "/auth/signed-out"
    if access.oidc is not None:
        try:
            redirect = await access.oidc.end_session_url(access.public_url + redirect) or redirect
        except SignInError as exc:
            log.warning("signed out here only: %s", exc)
    response = _json({"status": "signed_out", "redirect": redirect})
    response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response


async def signed_out(request: web.Request) -> web.Response:
    """GET /auth/signed-out: where the provider sends the browser back after sign-out."""
    return _page("Signed out", "You are signed out of lytewatch.", link=("/", "Sign in again"))


def add_signin_routes(app: web.Application, *, oidc: bool) -> None:
    router = app.router
    if oidc:
        router.add_get("/auth/login", login, allow_head=False)
        router.add_get("/auth/callback", callback, allow_head=False)
    router.add_get("/auth/me", me, allow_head=False)
    router.add_get("/auth/signed-out", signed_out, allow_head=False)
    router.add_post("/auth/token", token_sign_in)
    router.add_post("/auth/logout", logout)
