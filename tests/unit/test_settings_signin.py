"""Dashboard sign-in settings: auth on by default, `none` on loopback only, OIDC complete, no empty secret."""

from __future__ import annotations

import subprocess

import pytest

from streams.settings import SettingsError, load_settings
from tests.support.processes import LYTEWATCH, REPO

OIDC = {
    "LYTEWATCH_DASHBOARD_OIDC_ISSUER": "https://login.hospital.example/realms/staff",
    "LYTEWATCH_DASHBOARD_OIDC_CLIENT_ID": "lytewatch",
    "LYTEWATCH_DASHBOARD_SESSION_SECRET": "s" * 64,
}


def test_a_dashboard_nobody_said_who_may_use_refuses_to_start_naming_the_settings() -> None:
    result = subprocess.run(
        [*LYTEWATCH, "dashboard"],
        env={"PATH": "/usr/bin:/bin", "LYTEWATCH_BROKER": "kafka://127.0.0.1:1"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    for setting in [
        "LYTEWATCH_DASHBOARD_OIDC_ISSUER",
        "LYTEWATCH_DASHBOARD_TOKENS",
        "LYTEWATCH_DASHBOARD_AUTH=none",
    ]:
        assert setting in result.stderr
    assert "Traceback" not in result.stderr


def test_the_mode_follows_what_is_configured() -> None:
    assert load_settings(OIDC).dashboard_auth_mode == "oidc"
    assert load_settings({"LYTEWATCH_DASHBOARD_TOKEN": "t" * 32}).dashboard_auth_mode == "token"
    assert load_settings({"LYTEWATCH_DASHBOARD_AUTH": "none"}).dashboard_auth_mode == "none"
    with pytest.raises(SettingsError, match="LYTEWATCH_DASHBOARD_AUTH=none"):
        load_settings({}).dashboard_auth_mode  # noqa: B018


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LYTEWATCH_DASHBOARD_AUTH": "none", "LYTEWATCH_DASHBOARD_HOST": "0.0.0.0"},
            "LYTEWATCH_DASHBOARD_AUTH=none is for a dashboard on loopback only",
        ),
        (
            {"LYTEWATCH_DASHBOARD_AUTH": "token"},
            "LYTEWATCH_DASHBOARD_AUTH=token: set LYTEWATCH_DASHBOARD_TOKEN",
        ),
        ({"LYTEWATCH_DASHBOARD_AUTH": "oidc"}, "LYTEWATCH_DASHBOARD_OIDC_ISSUER: required"),
        (
            {k: v for k, v in OIDC.items() if "CLIENT_ID" not in k},
            "LYTEWATCH_DASHBOARD_OIDC_CLIENT_ID: required",
        ),
        (
            {k: v for k, v in OIDC.items() if "SESSION" not in k},
            "LYTEWATCH_DASHBOARD_SESSION_SECRET: required",
        ),
        (OIDC | {"LYTEWATCH_DASHBOARD_SESSION_SECRET": "short"}, "at least 32 characters"),
        (OIDC | {"LYTEWATCH_DASHBOARD_SESSION_SECRET": ""}, "LYTEWATCH_DASHBOARD_SESSION_SECRET"),
        (OIDC | {"LYTEWATCH_DASHBOARD_OIDC_CLIENT_SECRET": " "}, "must not be empty"),
        (OIDC | {"LYTEWATCH_DASHBOARD_OIDC_CLIENT_ID": ""}, "LYTEWATCH_DASHBOARD_OIDC_CLIENT_ID"),
        (
            OIDC | {"LYTEWATCH_DASHBOARD_OIDC_ISSUER": "http://login.hospital.example"},
            "an issuer off this machine must use https",
        ),
        (OIDC | {"LYTEWATCH_DASHBOARD_OIDC_ISSUER": "login.example"}, "expected the issuer URL"),
        (OIDC | {"LYTEWATCH_DASHBOARD_AUTH": "sso"}, "LYTEWATCH_DASHBOARD_AUTH"),
    ],
)
def test_incomplete_or_unsafe_sign_in_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert message in str(info.value)
    assert "s" * 64 not in str(info.value) and "short" not in str(info.value)


def test_oidc_settings_are_read_as_documented() -> None:
    settings = load_settings(
        OIDC
        | {
            "LYTEWATCH_DASHBOARD_HOST": "0.0.0.0",
            "LYTEWATCH_DASHBOARD_OIDC_ROLES_CLAIM": "realm_access.roles",
            "LYTEWATCH_DASHBOARD_OIDC_ACKNOWLEDGER_ROLES": "icu-nurse, icu-doctor",
            "LYTEWATCH_DASHBOARD_OIDC_VIEWER_ROLES": "pharmacist",
            "LYTEWATCH_DASHBOARD_OIDC_ISSUER": "https://login.hospital.example/realms/staff/",
        }
    )
    assert settings.dashboard_oidc_issuer == "https://login.hospital.example/realms/staff"
    assert settings.dashboard_oidc_acknowledger_roles == {"icu-nurse", "icu-doctor"}
    assert settings.dashboard_oidc_viewer_roles == {"pharmacist"}
    assert settings.dashboard_oidc_client_secret is None  # a public client: PKCE alone
    assert settings.dashboard_session_hours == 12
    # A loopback issuer may be plain http (tests, a provider on the same machine).
    assert load_settings(OIDC | {"LYTEWATCH_DASHBOARD_OIDC_ISSUER": "http://localhost:9000"})
