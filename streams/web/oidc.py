"""OpenID Connect relying party: discovery, authorization code + PKCE, ID token checks, role mapping."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from streams.web.session import LOGIN_SECONDS, LoginState, Role

#: Asymmetric algorithms only: an ID token signed with a shared secret (HS256) or "none" is refused.
ID_TOKEN_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
_LEEWAY_S: Final = 60


class SignInError(Exception):
    """Sign-in failed; the message is for the log and the person (no token or secret in it)."""


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of /.well-known/openid-configuration the dashboard uses."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class RoleMap:
    """Which values of which claim make a person an acknowledger or a viewer."""

    claim: str
    acknowledger: frozenset[str]
    viewer: frozenset[str]

    def role(self, claims: Mapping[str, Any]) -> Role | None:
        """The role the ID token's claims give (acknowledger wins), None when they give none.

        `claim` may be a dotted path into nested objects (Keycloak: `realm_access.roles`); its value a
        list of strings or one string.
        """
        value: Any = claims
        for part in self.claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str):
            values = {value}
        elif isinstance(value, list):
            values = {v for v in value if isinstance(v, str)}
        else:
            values = set()
        if values & self.acknowledger:
            return "acknowledger"
        if values & self.viewer:
            return "viewer"
        return None


def display_name(claims: Mapping[str, Any]) -> str:
    """What the page shows and an ack records next to the subject: name, else user name, else e-mail."""
    for key in ("name", "preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return str(claims["sub"])


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_login(return_to: str, now: float) -> LoginState:
    """Fresh state, nonce and PKCE verifier (43+ characters of 32 random bytes each)."""
    return LoginState(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(48),
        return_to=return_to,
        expires_at=int(now + LOGIN_SECONDS),
    )


class OidcClient:
    """One relying party (client) of one issuer; discovery and keys are fetched lazily and cached."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        scopes: str,
        redirect_uri: str,
        roles: RoleMap,
        timeout_s: float = 10.0,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self._scopes = scopes
        self.redirect_uri = redirect_uri
        self.roles = roles
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self._http

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._session().get(url, headers={"Accept": "application/json"}) as response:
                if response.status != 200:
                    raise SignInError(f"the identity provider answered {response.status} for {url}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInError(f"the identity provider is unreachable ({type(exc).__name__})") from None
        if not isinstance(body, dict):
            raise SignInError(f"the identity provider sent no JSON object at {url}")
        return body

    async def metadata(self) -> ProviderMetadata:
        """The issuer's discovery document; its `issuer` must be exactly the configured one."""
        if self._metadata is None:
            doc = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if doc.get("issuer") != self.issuer:
                raise SignInError("the discovery document names another issuer (check the issuer URL)")
            methods = doc.get("code_challenge_methods_supported")
            if isinstance(methods, list) and "S256" not in methods:
                raise SignInError("the identity provider does not offer PKCE with S256")
            try:
                self._metadata = ProviderMetadata(
                    authorization_endpoint=str(doc["authorization_endpoint"]),
                    token_endpoint=str(doc["token_endpoint"]),
                    jwks_uri=str(doc["jwks_uri"]),
                    end_session_endpoint=doc.get("end_session_endpoint"),
                )
            except KeyError as exc:
                raise SignInError(f"the discovery document lacks {exc.args[0]}") from None
        return self._metadata

    async def authorization_url(self, login: LoginState) -> str:
        meta = await self.metadata()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self._scopes,
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": pkce_challenge(login.verifier),
            "code_challenge_method": "S256",
        }
        return f"{meta.authorization_endpoint}?{urlencode(query)}"

    async def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """RP-initiated logout at the provider (by client_id), when it offers it."""
        meta = await self.metadata()
        if not meta.end_session_endpoint:
            return None
        query = {"client_id": self.client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        return f"{meta.end_session_endpoint}?{urlencode(query)}"

    async def redeem(self, code: str, login: LoginState) -> dict[str, Any]:
        """Exchange the code (with the PKCE verifier); the verified ID token's claims."""
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": login.verifier,
            "client_id": self.client_id,
        }
        auth = aiohttp.BasicAuth(self.client_id, self._secret) if self._secret else None
        try:
            async with self._session().post(meta.token_endpoint, data=form, auth=auth) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInError(f"the token endpoint is unreachable ({type(exc).__name__})") from None
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            error = body.get("error") if isinstance(body, dict) else None
            raise SignInError(f"the identity provider refused the code ({status}, {error})")
        return await self.verify_id_token(body["id_token"], login.nonce)

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            meta = await self.metadata()
            try:
                self._keys = KeySet.import_key_set(await self._get_json(meta.jwks_uri))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError) as exc:
                raise SignInError(f"the provider's JWKS is unusable ({type(exc).__name__})") from None
        return self._keys

    async def verify_id_token(self, id_token: str, nonce: str, *, now: float | None = None) -> dict[str, Any]:
        """Signature (the JWKS, fetched again once for a rotated key), then iss, aud, exp, nonce."""
        try:
            token = jwt.decode(id_token, await self._key_set(), algorithms=ID_TOKEN_ALGORITHMS)
        except JoseError:
            try:
                token = jwt.decode(
                    id_token, await self._key_set(refresh=True), algorithms=ID_TOKEN_ALGORITHMS
                )
            except JoseError as exc:
                raise SignInError(f"the ID token's signature does not verify ({exc.error})") from None
        claims = dict(token.claims)
        check_id_token_claims(claims, issuer=self.issuer, client_id=self.client_id, nonce=nonce, now=now)
        return claims


def check_id_token_claims(
    claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str, now: float | None = None
) -> None:
    """OpenID Connect Core 3.1.3.7: iss, aud (and azp), exp, iat, nonce and a subject; SignInError if not."""
    registry = JWTClaimsRegistry(
        now=int(time.time() if now is None else now),
        leeway=_LEEWAY_S,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise SignInError(
            f"the ID token is not for us or not valid now ({exc.error}: {exc.description})"
        ) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise SignInError("the ID token names several audiences but not us as its authorized party")


def scopes_with(scopes: str, needed: Collection[str]) -> str:
    """The configured scopes with `openid` always included."""
    parts = scopes.split()
    return " ".join([*parts, *(s for s in needed if s not in parts)])
