"""The pure parts of OpenID Connect sign-in: role mapping, display name, PKCE, and the ID token's claims."""

from __future__ import annotations

from typing import Any

import pytest

from streams.web.oidc import RoleMap, SignInError, check_id_token_claims, display_name, pkce_challenge

ROLES = RoleMap("roles", frozenset({"lytewatch-acknowledger"}), frozenset({"lytewatch-viewer"}))
NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("claims", "role"),
    [
        ({"roles": ["lytewatch-viewer"]}, "viewer"),
        ({"roles": ["lytewatch-acknowledger"]}, "acknowledger"),
        ({"roles": ["lytewatch-viewer", "lytewatch-acknowledger"]}, "acknowledger"),
        ({"roles": "lytewatch-viewer"}, "viewer"),
        ({"roles": ["ward-4w"]}, None),
        ({"roles": []}, None),
        ({}, None),
        ({"roles": [{"name": "lytewatch-acknowledger"}]}, None),
        ({"roles": 7}, None),
    ],
)
def test_roles_come_from_the_configured_claim(claims: dict[str, Any], role: str | None) -> None:
    assert ROLES.role(claims) == role


def test_a_nested_claim_is_read_by_its_dotted_path() -> None:
    keycloak = RoleMap("realm_access.roles", frozenset({"ack"}), frozenset({"view"}))
    assert keycloak.role({"realm_access": {"roles": ["offline_access", "ack"]}}) == "acknowledger"
    assert keycloak.role({"realm_access": ["ack"]}) is None
    assert keycloak.role({"roles": ["ack"]}) is None


def test_the_display_name_falls_back_to_the_user_name_then_the_subject() -> None:
    assert display_name({"sub": "u1", "name": " Ada Acker ", "preferred_username": "ada"}) == "Ada Acker"
    assert display_name({"sub": "u1", "name": "", "preferred_username": "ada"}) == "ada"
    assert display_name({"sub": "u1"}) == "u1"


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "https://idp.example",
        "aud": "lytewatch",
        "sub": "ada",
        "exp": NOW + 300,
        "iat": NOW,
        "nonce": "n-1",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _check(claims: dict[str, Any]) -> None:
    check_id_token_claims(claims, issuer="https://idp.example", client_id="lytewatch", nonce="n-1", now=NOW)


def test_a_good_id_token_passes() -> None:
    _check(_claims())
    _check(_claims(aud=["lytewatch", "other"], azp="lytewatch"))


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"aud": "another-app"},
        {"aud": ["lytewatch", "other"]},  # several audiences and we are not the authorized party
        {"exp": NOW - 120},
        {"nonce": "replayed"},
        {"nonce": None},
        {"sub": None},
        {"iat": None},
    ],
)
def test_an_id_token_for_someone_else_or_out_of_time_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(SignInError):
        _check(_claims(**changes))
