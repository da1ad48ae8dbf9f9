"""Edge settings: unauthenticated CDS Hooks only on loopback, TLS cert and key together, issuers JSON."""

from __future__ import annotations

import subprocess

import pytest

from streams.settings import SettingsError, load_settings
from tests.support.processes import LYTEWATCH, REPO


def test_edge_defaults() -> None:
    s = load_settings({})
    assert (s.mllp_host, s.mllp_port, s.mllp_web_port, s.mllp_max_message_bytes) == (
        "127.0.0.1",
        2575,
        6069,
        1_048_576,
    )
    assert (s.cds_allow_unauthenticated, s.cds_issuers, s.topic_cds_feedback) == (False, {}, "cds.feedback")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_unauthenticated_cds_is_allowed_on_loopback(host: str) -> None:
    env = {"LYTEWATCH_WEB_HOST": host, "LYTEWATCH_CDS_ALLOW_UNAUTHENTICATED": "true"}
    assert load_settings(env).cds_allow_unauthenticated is True


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "lytewatch.hospital.org", "::"])
def test_unauthenticated_cds_is_refused_on_any_other_address(host: str) -> None:
    env = {"LYTEWATCH_WEB_HOST": host, "LYTEWATCH_CDS_ALLOW_UNAUTHENTICATED": "true"}
    with pytest.raises(SettingsError, match=r"LYTEWATCH_CDS_ALLOW_UNAUTHENTICATED: .*local development only"):
        load_settings(env)


def test_the_worker_refuses_to_start_unauthenticated_on_a_public_address() -> None:
    env = {
        "LYTEWATCH_WEB_HOST": "0.0.0.0",
        "LYTEWATCH_CDS_ALLOW_UNAUTHENTICATED": "true",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [*LYTEWATCH, "worker"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LYTEWATCH_CDS_ALLOW_UNAUTHENTICATED" in done.stderr and "'0.0.0.0'" in done.stderr


def test_tls_needs_both_cert_and_key() -> None:
    with pytest.raises(SettingsError, match=r"LYTEWATCH_MLLP_TLS_KEY: .*go together"):
        load_settings({"LYTEWATCH_MLLP_TLS_CERT": "/etc/ssl/mllp.pem"})


def test_issuers_are_json_and_a_bad_value_is_named() -> None:
    s = load_settings(
        {"LYTEWATCH_CDS_ISSUERS": '{"https://ehr.example.org": "https://ehr.example.org/jwks"}'}
    )
    assert s.cds_issuers == {"https://ehr.example.org": "https://ehr.example.org/jwks"}
    with pytest.raises(SettingsError, match="LYTEWATCH_CDS_ISSUERS"):
        load_settings({"LYTEWATCH_CDS_ISSUERS": "https://ehr.example.org"})


def test_state_token_is_never_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"LYTEWATCH_STATE_TOKEN": "s3cret", "LYTEWATCH_WEB_PORT": "x"})
    assert "s3cret" not in str(info.value)


def test_a_bad_mllp_port_stops_the_listener_at_start_up_naming_it() -> None:
    done = subprocess.run(
        [*LYTEWATCH, "mllp", "--port", "70000"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LYTEWATCH_MLLP_PORT: Input should be less than or equal to 65535" in done.stderr
