"""CDS Hooks JWTs: accepted when signed by a trusted issuer for this service; every other case says why."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from streams.edges.cds_auth import AuthError, JwtVerifier
from tests.support.edges import Ehr

ISS = Ehr.ISS
AUD = "http://127.0.0.1:6066/cds-services/lytewatch-order-sign"


async def _no_http(url: str) -> bytes:
    raise AssertionError(f"unexpected fetch of {url}")


def verify(ehr: Ehr, token: str, issuers: dict[str, str] | None = None) -> dict[str, Any]:
    verifier = JwtVerifier(issuers or {ISS: str(ehr.jwks)}, _no_http)
    return asyncio.run(verifier.verify(token, [AUD]))


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_a_token_signed_by_a_trusted_issuer_for_this_service_is_accepted(tmp_path: Path, alg: str) -> None:
    ehr = Ehr(tmp_path, AUD, alg)
    assert verify(ehr, ehr.token(tenant="t1"))["tenant"] == "t1"


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"aud": "https://other.example.org/cds-services/x"}, "aud"),
        ({"iss": "https://rogue.example.org"}, "is not trusted"),
        ({"jti": None}, "jti"),
        ({"exp": None}, "exp"),
    ],
)
def test_bad_claims_are_refused_with_the_reason(tmp_path: Path, claims: dict[str, Any], why: str) -> None:
    ehr = Ehr(tmp_path, AUD)
    with pytest.raises(AuthError, match=why):
        verify(ehr, ehr.token(**claims))


def test_a_token_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    ehr, impostor = Ehr(tmp_path, AUD), Ehr(tmp_path / "..", AUD)
    impostor.key = ECKey.generate_key("P-384", parameters={"kid": "k1"})
    with pytest.raises(AuthError, match="signature does not verify"):
        verify(ehr, impostor.token())


def test_a_replayed_jti_is_refused(tmp_path: Path) -> None:
    ehr = Ehr(tmp_path, AUD)
    verifier = JwtVerifier({ISS: str(ehr.jwks)}, _no_http)
    token = ehr.token()
    asyncio.run(verifier.verify(token, [AUD]))
    with pytest.raises(AuthError, match="already used"):
        asyncio.run(verifier.verify(token, [AUD]))


def test_an_unsigned_or_malformed_token_is_refused(tmp_path: Path) -> None:
    ehr = Ehr(tmp_path, AUD)
    with pytest.raises(AuthError, match="compact JWS"):
        verify(ehr, "not-a-jwt")
    header, payload, _ = ehr.token().split(".")
    with pytest.raises(AuthError, match="signature"):
        verify(ehr, f"{header}.{payload}.")


def test_a_rotated_key_is_fetched_again(tmp_path: Path) -> None:
    ehr = Ehr(tmp_path, AUD)
    fetched: list[str] = []

    async def fetch(url: str) -> bytes:
        fetched.append(url)
        return ehr.jwks.read_bytes()

    verifier = JwtVerifier({ISS: "https://ehr.example.org/jwks.json"}, fetch)
    asyncio.run(verifier.verify(ehr.token(), [AUD]))
    ehr.key = ECKey.generate_key("P-384", parameters={"kid": "k2"})
    ehr.publish()
    asyncio.run(verifier.verify(ehr.token(), [AUD]))
    assert fetched == ["https://ehr.example.org/jwks.json"] * 2
