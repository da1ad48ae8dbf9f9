"""Who is calling the dashboard (session cookie, bearer token, or nobody) and what they may do."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Middleware

from alerts.text import inert
from streams.codecs.limits import NAME
from streams.settings import Settings
from streams.web.oidc import OidcClient, RoleMap, scopes_with
from streams.web.session import SESSION_COOKIE, CookieCodec, Session
from streams.web.tokens import Tokens

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorResponse = Callable[[int, str, str], web.Response]
Mode = Literal["oidc", "token", "none"]

CSRF_HEADER: Final = "X-CSRF-Token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """Who makes a request: a signed-in person, a machine or page with a token, or anyone (mode none)."""

    kind: Literal["person", "machine", "anonymous"]
    #: A verified name: the person's display name or the machine token's name; None when unverified.
    name: str | None
    subject: str | None
    can_acknowledge: bool
    session: Session | None = None

    @property
    def verified(self) -> bool:
        return self.name is not None

    def acknowledged_by(self, typed: str | None) -> str | None:
        """What an ack records as `by`: the verified identity, else (no identity) the typed name."""
        if self.kind == "person" and self.name is not None and self.subject is not None:
            # Both, so the record says who (display name) and which account (subject) unambiguously.
            subject = inert(self.subject, 100)
            return f"{inert(self.name, NAME.length - len(subject) - 3)} ({subject})"
        return self.name if self.name is not None else typed


@dataclass(frozen=True)
class Access:
    """The dashboard's authentication: mode, machine tokens, cookie keys and the OpenID client."""

    mode: Mode
    tokens: Tokens
    cookies: CookieCodec
    session_hours: float
    public_url: str = "http://127.0.0.1:8080"
    oidc: OidcClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        """Build it; SettingsError (exit 2 at start-up) when nothing says who may use the dashboard."""
        mode = settings.dashboard_auth_mode
        shared = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
        secret = settings.dashboard_session_secret
        # Token mode without a configured secret: a key per process (a restart asks pages to sign in again).
        cookies = CookieCodec(secret.get_secret_value() if secret else secrets.token_hex(32))
        oidc = None
        if mode == "oidc":
            assert settings.dashboard_oidc_issuer and settings.dashboard_oidc_client_id  # checked by Settings
            client_secret = settings.dashboard_oidc_client_secret
            oidc = OidcClient(
                issuer=settings.dashboard_oidc_issuer,
                client_id=settings.dashboard_oidc_client_id,
                client_secret=client_secret.get_secret_value() if client_secret else None,
                scopes=scopes_with(settings.dashboard_oidc_scopes, ["openid"]),
                redirect_uri=f"{settings.dashboard_public_url.rstrip('/')}/auth/callback",
                roles=RoleMap(
                    settings.dashboard_oidc_roles_claim,
                    settings.dashboard_oidc_acknowledger_roles,
                    settings.dashboard_oidc_viewer_roles,
                ),
            )
        tokens = Tokens(shared, dict(settings.dashboard_tokens))
        public_url = settings.dashboard_public_url.rstrip("/")
        return cls(mode, tokens, cookies, settings.dashboard_session_hours, public_url, oidc)

    @classmethod
    def with_tokens(cls, shared: str | None = None, named: Mapping[str, str] | None = None) -> Access:
        """Bearer tokens only ("token"), or with none given no authentication ("none")."""
        tokens = Tokens(shared or None, dict(named or {}))
        mode: Mode = "token" if tokens.required else "none"
        return cls(mode, tokens, CookieCodec(secrets.token_hex(32)), 12.0)

    def session(self, request: web.Request) -> Session | None:
        return self.cookies.open_session(request.cookies.get(SESSION_COOKIE), time.time())

    def identify(self, request: web.Request) -> Caller | None:
        """The caller, or None when the request carries no valid credentials (and the mode needs some).

        A bearer token in the Authorization header comes first (machines); then the session cookie.
        """
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, offered = header.partition(" ")
            token = self.tokens.identify(offered) if scheme.lower() == "bearer" else None
            if token is not None:
                return Caller("machine", token.name, token.name, can_acknowledge=True)
            if self.mode != "none":
                return None
            # No sign-in: a stale or foreign Authorization header changes nothing, as before.
        session = self.session(request)
        if session is not None and (session.kind == "person") == (self.mode == "oidc"):
            if session.kind == "shared":
                return Caller("machine", None, None, can_acknowledge=True, session=session)
            kind: Literal["person", "machine"] = "person" if session.kind == "person" else "machine"
            return Caller(kind, session.name, session.subject, session.can_acknowledge, session=session)
        if self.mode == "none":
            return Caller("anonymous", None, None, can_acknowledge=True)
        return None


ACCESS_KEY = web.AppKey("access", Access)
CALLER_KEY = web.RequestKey("caller", Caller)


def caller_of(request: web.Request) -> Caller | None:
    return request.get(CALLER_KEY)


def access_control(error: ErrorResponse) -> Middleware:
    """The middleware: 401 for /api/* without credentials, sign-in for the page, CSRF on cookie sessions."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        access = request.app[ACCESS_KEY]
        caller = access.identify(request)
        if caller is not None:
            request[CALLER_KEY] = caller
        if caller is None and request.path.startswith("/api/"):
            response = error(401, "unauthorized", _unauthorized_detail(access.mode))
            response.headers["WWW-Authenticate"] = 'Bearer realm="lytewatch"'
            return response
        if caller is None and request.path == "/" and access.mode == "oidc":
            # The browser keeps the address's #fragment across this redirect; /auth/login adds it.
            raise web.HTTPFound(f"/auth/login?{urlencode({'next': request.path_qs})}")
        if request.method not in _SAFE_METHODS and caller is not None and caller.session is not None:
            # The cookie rides along on any request the browser makes, so it alone proves nothing:
            # the page must also show the session's CSRF token, which another site cannot read.
            offered = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(offered.encode(), caller.session.csrf.encode()):
                return error(403, "csrf", f"missing or wrong {CSRF_HEADER} header (reload the page)")
        return await handler(request)

    return check


def _unauthorized_detail(mode: Mode) -> str:
    if mode == "oidc":
        return "sign in (the page does it) or send a valid bearer token"
    return "a valid bearer token is required"
