"""Settings: defaults, LYTEWATCH_* overrides, and start-up failures that name the bad setting."""

from __future__ import annotations

import subprocess

import pytest

from streams.settings import SettingsError, load_settings
from tests.support.processes import LYTEWATCH, REPO


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings({})
    assert settings.broker == "kafka://127.0.0.1:9092"
    assert settings.web_port == 6066
    assert settings.partitions == 6
    assert settings.dashboard_port == 8080
    assert settings.hospital_tz == "UTC"
    assert settings.standby_replicas == 1


def test_environment_overrides_and_unrelated_variables_are_ignored() -> None:
    settings = load_settings(
        {"LYTEWATCH_WEB_PORT": "7000", "LYTEWATCH_HOSPITAL_TZ": "Europe/Paris", "LYTEWATCH_NOPE": "x"}
    )
    assert settings.web_port == 7000
    assert settings.tz.key == "Europe/Paris"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LYTEWATCH_WEB_PORT", "not-a-port"),
        ("LYTEWATCH_WEB_PORT", "70000"),
        ("LYTEWATCH_HOSPITAL_TZ", "Mars/Olympus"),
        ("LYTEWATCH_STORE", "redis://"),
        ("LYTEWATCH_BROKER", "nonsense"),
        ("LYTEWATCH_PARTITIONS", "0"),
        ("LYTEWATCH_STANDBY_REPLICAS", "-1"),
    ],
)
def test_a_bad_setting_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_a_secret_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"LYTEWATCH_BROKER_SASL_PASSWORD": "", "LYTEWATCH_WEB_PORT": "x"})
    assert "LYTEWATCH_WEB_PORT" in str(info.value)


def test_worker_with_a_bad_port_fails_at_start_up_naming_it() -> None:
    result = subprocess.run(
        [*LYTEWATCH, "worker"],
        env={"LYTEWATCH_WEB_PORT": "sixty", "PATH": "/usr/bin:/bin"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "LYTEWATCH_WEB_PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LYTEWATCH_BROKER_SECURITY_PROTOCOL": "SASL_SSL"},
            "LYTEWATCH_BROKER_SASL_USERNAME: required with LYTEWATCH_BROKER_SECURITY_PROTOCOL=SASL_SSL",
        ),
        (
            {"LYTEWATCH_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "LYTEWATCH_BROKER_SASL_USERNAME": "lw"},
            "LYTEWATCH_BROKER_SASL_PASSWORD: required with LYTEWATCH_BROKER_SECURITY_PROTOCOL=SASL_PLAINTEXT",
        ),
        (
            {"LYTEWATCH_BROKER_SASL_PASSWORD": " "},
            "LYTEWATCH_BROKER_SASL_PASSWORD: Value error, must not be empty",
        ),
        ({"LYTEWATCH_DASHBOARD_TOKEN": ""}, "LYTEWATCH_DASHBOARD_TOKEN: Value error, must not be empty"),
        ({"LYTEWATCH_DASHBOARD_HOST": "0.0.0.0"}, "LYTEWATCH_DASHBOARD_TOKEN or _TOKENS must be set"),
        (
            {"LYTEWATCH_BROKER_SSL_CAFILE": "/no/such/ca.pem"},
            "LYTEWATCH_BROKER_SSL_CAFILE: Value error, no such file",
        ),
    ],
)
def test_security_settings_that_would_fail_later_or_silently_are_refused(
    env: dict[str, str], message: str
) -> None:
    """Issue 10: SASL without a user gave a traceback; an empty token silently turned auth off."""
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert message in str(info.value)


def test_a_dashboard_on_loopback_may_run_without_a_token_and_one_elsewhere_with_it() -> None:
    assert load_settings({"LYTEWATCH_DASHBOARD_HOST": "::1"}).dashboard_token is None
    assert load_settings({"LYTEWATCH_DASHBOARD_HOST": "0.0.0.0", "LYTEWATCH_DASHBOARD_TOKEN": "x" * 32})
