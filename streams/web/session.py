"""The dashboard's cookies: the signed-in session and the short-lived sign-in state, encrypted (JWE)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import OctKey

Role = Literal["viewer", "acknowledger"]
Kind = Literal["person", "token", "shared"]

# The prefixes make browsers refuse these names unless Secure (and, for __Host-, Path=/ and no Domain), so
# a neighbouring host of the same site cannot plant or overwrite them ("cookie tossing").
SESSION_COOKIE: Final = "__Host-lytewatch_session"
LOGIN_COOKIE: Final = "__Secure-lytewatch_login"
#: How long a sign-in may take at the identity provider (typing a password, a second factor).
LOGIN_SECONDS: Final = 600

# "dir" + A256GCM: the cookie is both secret (no name or subject readable in the browser's storage) and
# tamper-evident (GCM's tag); joserfc is the kept library doing it.
_REGISTRY: Final = JWERegistry(algorithms=["dir", "A256GCM"])
_HEADER: Final = {"alg": "dir", "enc": "A256GCM"}


@dataclass(frozen=True)
class Session:
    """Who is signed in: a person (OpenID Connect), or a page that showed a named or the shared token."""

    kind: Kind
    subject: str
    name: str
    role: Role
    expires_at: int
    csrf: str

    @property
    def can_acknowledge(self) -> bool:
        return self.role == "acknowledger"


@dataclass(frozen=True)
class LoginState:
    """What the callback must find again: OAuth state, OpenID nonce, PKCE verifier, where to land."""

    state: str
    nonce: str
    verifier: str
    return_to: str
    expires_at: int


class CookieCodec:
    """Seals and opens the dashboard's cookies with a key derived from the session secret."""

    def __init__(self, secret: str) -> None:
        digest = hashlib.sha256(b"lytewatch dashboard cookies\x00" + secret.encode()).digest()
        self._key = OctKey.import_key(digest)

    def _seal(self, use: str, claims: dict[str, Any]) -> str:
        return jwt.encode(_HEADER, {"use": use, **claims}, self._key, registry=_REGISTRY)

    def _open(self, use: str, value: str, now: float) -> dict[str, Any] | None:
        try:
            claims = dict(jwt.decode(value, self._key, registry=_REGISTRY).claims)
        except (JoseError, ValueError):
            return None
        # A login-state cookie is never a session and vice versa; an expired one is nothing.
        if claims.get("use") != use or not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            return None
        return claims

    def seal_session(self, session: Session) -> str:
        claims = {
            "kind": session.kind,
            "sub": session.subject,
            "name": session.name,
            "role": session.role,
            "exp": session.expires_at,
            "csrf": session.csrf,
        }
        return self._seal("session", claims)

    def open_session(self, value: str | None, now: float) -> Session | None:
        """The session in a cookie value; None when absent, tampered with, expired or malformed."""
        claims = self._open("session", value, now) if value else None
        if claims is None:
            return None
        fields = (claims.get(k) for k in ("kind", "sub", "name", "role", "csrf"))
        kind, subject, name, role, csrf = fields
        if kind not in ("person", "token", "shared") or role not in ("viewer", "acknowledger"):
            return None
        if not all(isinstance(v, str) and v for v in (subject, name, csrf)):
            return None
        return Session(kind, str(subject), str(name), role, claims["exp"], str(csrf))

    def seal_login(self, login: LoginState) -> str:
        claims = {
            "state": login.state,
            "nonce": login.nonce,
            "verifier": login.verifier,
            "return_to": login.return_to,
            "exp": login.expires_at,
        }
        return self._seal("login", claims)

    def open_login(self, value: str | None, now: float) -> LoginState | None:
        claims = self._open("login", value, now) if value else None
        if claims is None:
            return None
        values = [claims.get(k) for k in ("state", "nonce", "verifier", "return_to")]
        if not all(isinstance(v, str) and v for v in values):
            return None
        state, nonce, verifier, return_to = (str(v) for v in values)
        return LoginState(state, nonce, verifier, return_to, claims["exp"])


def new_session(kind: Kind, subject: str, name: str, role: Role, *, now: float, hours: float) -> Session:
    """A fresh session with its own CSRF token."""
    return Session(kind, subject, name, role, int(now + hours * 3600), secrets.token_urlsafe(32))


def cookie_attributes(
    *, max_age: int, same_site: Literal["Strict", "Lax"], path: str = "/"
) -> dict[str, Any]:
    """aiohttp set_cookie() keywords: never readable by scripts, sent over HTTPS only (and localhost)."""
    return {"max_age": max_age, "path": path, "httponly": True, "secure": True, "samesite": same_site}
