"""docker-compose.yml cannot run here (no Docker engine), so it is checked as a user would trip over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings import ENV_PREFIX, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_every_lytewatch_variable_names_a_real_setting(compose: dict[str, Any]) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    seen = 0
    for name, service in compose["services"].items():
        for variable in _environment(service):
            if variable.startswith(ENV_PREFIX):
                seen += 1
                assert variable[len(ENV_PREFIX) :] in fields, f"{name}: {variable} is not a setting"
    assert seen > 10


def test_every_service_environment_is_valid_settings_that_reach_the_compose_broker(
    compose: dict[str, Any],
) -> None:
    checked = set()
    for name, service in compose["services"].items():
        env = {k: v for k, v in _environment(service).items() if k.startswith(ENV_PREFIX)}
        if not env:
            continue
        settings = load_settings(env)  # raises SettingsError naming a bad variable
        for variable, value in env.items():
            field = variable[len(ENV_PREFIX) :].lower()
            # With the settings it must come with (a dashboard off loopback needs its token).
            companions = {k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k in _TOGETHER}
            alone = Settings.model_validate(companions | {field: value})
            assert getattr(settings, field) == getattr(alone, field), f"{name}: {variable} not applied"
        # Inside compose the broker is the `kafka` service, never the host default of 127.0.0.1.
        assert settings.bootstrap_servers.split(":")[0] == "kafka", f"{name}: {settings.broker}"
        checked.add(name)
    assert {"worker", "dashboard", "notifier"} <= checked


LOOPBACK_UNLESS_TOLD = "${LYTEWATCH_BIND:-127.0.0.1}"
_TOGETHER = {"LYTEWATCH_DASHBOARD_TOKEN", "LYTEWATCH_BROKER_SASL_USERNAME", "LYTEWATCH_BROKER_SASL_PASSWORD"}


def _published(compose: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(service, host address, host port, container port) of every published port."""
    found = []
    for name, service in compose["services"].items():
        for mapping in service.get("ports", []):
            address, _, ports = str(mapping).rpartition("}:")
            host_port, _, container_port = ports.partition(":")
            found.append((name, address + "}" if address else "", host_port, container_port))
    return found


def test_host_ports_do_not_collide(compose: dict[str, Any]) -> None:
    host_ports = [port for _, _, port, _ in _published(compose)]
    assert len(host_ports) == len(set(host_ports)), host_ports


def test_published_ports_listen_on_loopback_unless_told_otherwise(compose: dict[str, Any]) -> None:
    published = _published(compose)
    assert len(published) >= 5
    for name, address, _, _ in published:
        assert address == LOOPBACK_UNLESS_TOLD, f"{name} publishes on {address or 'every interface'}"


def test_the_dashboard_cannot_start_without_its_token(compose: dict[str, Any]) -> None:
    env = _environment(compose["services"]["dashboard"])
    # Compose's ${VAR:?message} stops `docker compose up` with the message when the variable is unset.
    assert env["LYTEWATCH_DASHBOARD_TOKEN"].startswith("${LYTEWATCH_DASHBOARD_TOKEN:?")
    # So the compose dashboard always knows who may use it (a dashboard with no sign-in refuses to start).
    settings = load_settings({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    assert settings.dashboard_auth_mode == "token"


def test_the_services_the_design_names_are_there_with_official_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "worker", "dashboard", "notifier", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    build = services["worker"]["build"]
    assert build["context"] == "."
    assert (REPO / build["dockerfile"]).is_file()


def test_the_worker_port_matches_its_setting_and_the_scrape_config(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    port = _environment(worker)["LYTEWATCH_WEB_PORT"]
    assert f"{LOOPBACK_UNLESS_TOLD}:{port}:{port}" in worker["ports"]
    scrape = (REPO / "deploy" / "prometheus" / "prometheus.yml").read_text()
    assert f"worker:{port}" in scrape


def test_the_mllp_listener_is_there_on_its_settings_and_scraped(compose: dict[str, Any]) -> None:
    mllp = compose["services"]["mllp"]
    assert mllp["command"] == ["mllp"]
    env = _environment(mllp)
    for setting in ("LYTEWATCH_MLLP_PORT", "LYTEWATCH_MLLP_WEB_PORT"):
        assert f"{LOOPBACK_UNLESS_TOLD}:{env[setting]}:{env[setting]}" in mllp["ports"], setting
    # Listens on every interface of its container; published on the host's loopback unless LYTEWATCH_BIND
    # opens it to the hospital network (issue 10).
    assert env["LYTEWATCH_MLLP_HOST"] == "0.0.0.0"
    assert env["LYTEWATCH_MLLP_WEB_PORT"] in str(mllp["healthcheck"]["test"])
    scrape = (REPO / "deploy" / "prometheus" / "prometheus.yml").read_text()
    assert f"mllp:{env['LYTEWATCH_MLLP_WEB_PORT']}" in scrape


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
