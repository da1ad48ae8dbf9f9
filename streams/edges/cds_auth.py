"""CDS Hooks authentication: the EHR's signed JWT checked against configured issuers and their JWKS."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# CDS Hooks 2.0: services SHALL support ES384 and RS384; the 256-bit variants are common in EHRs too.
ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
LEEWAY_S = 30
# A JWKS is fetched again after this long, or at once when a token names a key id it does not have.
JWKS_MAX_AGE_S = 600.0

Fetch = Callable[[str], Awaitable[bytes]]


class AuthError(Exception):
    """The request is not authenticated; the message says why, for the EHR's integration team."""


def _unverified_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("the bearer token is not a compact JWS (header.payload.signature)")
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        raise AuthError("the JWT payload is not base64url-encoded JSON") from None
    if not isinstance(payload, dict):
        raise AuthError("the JWT payload is not a JSON object")
    return payload


class JwtVerifier:
    """Verifies CDS Hooks JWTs: signature by the issuer's JWKS, iss, aud, exp, and jti never seen twice."""

    def __init__(
        self, issuers: dict[str, str], fetch: Fetch, *, now: Callable[[], float] = time.time
    ) -> None:
        self.issuers = dict(issuers)
        self._fetch = fetch
        self._now = now
        self._keys: dict[str, tuple[KeySet, float]] = {}
        self._seen: dict[str, float] = {}

    async def _key_set(self, iss: str, *, refresh: bool = False) -> KeySet:
        cached = self._keys.get(iss)
        if cached is not None and not refresh and self._now() - cached[1] < JWKS_MAX_AGE_S:
            return cached[0]
        source = self.issuers[iss]
        try:
            if source.startswith(("http://", "https://")):
                raw = await self._fetch(source)
            else:
                raw = await asyncio.to_thread(Path(source.removeprefix("file://")).read_bytes)
            keys = KeySet.import_key_set(json.loads(raw))
        except (OSError, ValueError, JoseError) as exc:
            raise AuthError(f"the JWKS of issuer {iss!r} could not be read ({type(exc).__name__})") from None
        self._keys[iss] = (keys, self._now())
        return keys

    async def verify(self, token: str, audiences: Collection[str]) -> dict[str, Any]:
        """The verified claims; AuthError naming the first problem."""
        iss = _unverified_claims(token).get("iss")
        if not isinstance(iss, str) or iss not in self.issuers:
            raise AuthError(f"issuer {iss!r} is not trusted (LYTEWATCH_CDS_ISSUERS)")
        keys = await self._key_set(iss)
        try:
            try:
                decoded = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
            except JoseError:
                # A rotated key: the EHR may have published a new one since we fetched.
                fresh = await self._key_set(iss, refresh=True)
                decoded = jwt.decode(token, fresh, algorithms=list(ALGORITHMS))
        except JoseError as exc:
            raise AuthError(f"the JWT signature does not verify ({exc.error})") from None
        now = int(self._now())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=LEEWAY_S,
            iss={"essential": True, "value": iss},
            aud={"essential": True, "values": list(audiences)},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise AuthError(f"JWT rejected: {exc.description or exc.error}") from None
        jti = f"{iss} {decoded.claims['jti']}"
        self._seen = {k: exp for k, exp in self._seen.items() if exp + LEEWAY_S >= now}
        if jti in self._seen:
            raise AuthError("JWT rejected: this jti was already used (replay)")
        self._seen[jti] = float(decoded.claims["exp"])
        return dict(decoded.claims)
