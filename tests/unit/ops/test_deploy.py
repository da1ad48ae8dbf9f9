"""The Prometheus and Grafana files are valid, their alerts fire as documented, and query real metrics."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from streams.metrics import Metrics
from streams.settings import Settings

from .conftest import Samples
from .deploy_files import (
    DASHBOARD,
    GRAFANA_DIR,
    OPERATIONS_DOC,
    PROMETHEUS_CONFIG,
    PROMETHEUS_OWN,
    RULES,
    dashboard_exprs,
    load_dashboard,
    load_rules,
    metric_names,
    require_tool,
    rule_exprs,
)

RULES_TEST = Path(__file__).with_name("prometheus_rules_test.yml")


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=120
    )


@pytest.fixture
def every_declared_name(
    make_metrics: Callable[[], Metrics], scrape: Callable[[Metrics], Samples]
) -> set[str]:
    """Sample names of a Metrics with every metric touched at least once."""
    metrics = make_metrics()
    metrics.prime_topics(["labs.results"])
    metrics.prime_notifier()
    metrics.prime_mllp(["ORU^R01"])
    metrics.prime_cds()
    metrics.set_build_info("0", "0")
    metrics.count_input("labs.results", "json")
    metrics.observe_processing(0.01)
    metrics.observe_end_to_end(0.0, 0.01)
    metrics.set_consumer_lag("labs.results", 0, 1)
    metrics.set_state_size(1, 1)
    metrics.recovery_started()
    metrics.recovery_finished()
    return {name for name, _ in scrape(metrics)}


def test_prometheus_config_passes_promtool() -> None:
    result = _promtool("check", "config", str(PROMETHEUS_CONFIG))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_rules_pass_promtool() -> None:
    result = _promtool("check", "rules", str(RULES))

    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_when_and_only_when_documented(tmp_path: Path) -> None:
    # promtool compares annotations too; the texts are checked separately, the timing here.
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / RULES_TEST.name).write_text(RULES_TEST.read_text())

    result = _promtool("test", "rules", RULES_TEST.name, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_exercised_by_the_rule_tests() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    }

    assert tested == {rule["alert"] for rule in load_rules()}


def test_every_alert_explains_itself_and_links_a_runbook_section() -> None:
    headings = {
        line.lstrip("#").strip().lower()
        for line in OPERATIONS_DOC.read_text().splitlines()
        if line.startswith("###")
    }
    for rule in load_rules():
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook", "runbook_url"} <= annotations.keys(), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        anchor = annotations["runbook_url"].partition("#")[2]
        assert anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in headings, f"docs/OPERATIONS.md has no '### {rule['alert']}' section"


def test_scrape_jobs_use_the_default_ports_of_each_process() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    ports = {
        job["job_name"]: {
            target.rpartition(":")[2] for sc in job["static_configs"] for target in sc["targets"]
        }
        for job in config["scrape_configs"]
    }
    defaults = Settings.model_fields

    assert ports["lytewatch-worker"] == {str(defaults["web_port"].default)}
    assert ports["lytewatch-notifier"] == {str(defaults["notifier_web_port"].default)}
    assert ports["lytewatch-dashboard"] == {str(defaults["dashboard_port"].default)}


def test_dashboard_and_rules_query_only_metrics_lytewatch_declares(every_declared_name: set[str]) -> None:
    used = {name for expr in dashboard_exprs() + rule_exprs() for name in metric_names(expr)}

    assert used - PROMETHEUS_OWN
    assert used - PROMETHEUS_OWN - every_declared_name == set()


def test_dashboard_shows_what_operations_asked_for() -> None:
    exprs = "\n".join(dashboard_exprs())

    assert "rate(lytewatch_input_messages_total" in exprs
    assert "lytewatch_consumer_lag" in exprs
    for quantile in ("0.5", "0.95", "0.99"):
        for histogram in ("lytewatch_processing_latency_seconds", "lytewatch_end_to_end_latency_seconds"):
            assert re.search(rf"histogram_quantile\({quantile}, .*{histogram}_bucket", exprs), (
                quantile,
                histogram,
            )
    assert re.search(r"by \(reason\) \(rate\(lytewatch_deadletter_total", exprs)
    assert re.search(r"by \(rule, event, severity\) \(increase\(lytewatch_alert_transitions_total", exprs)
    assert re.search(r"by \(rule, severity\) \(lytewatch_open_alerts\)", exprs)


def test_dashboard_panels_use_the_provisioned_datasource_and_do_not_overlap() -> None:
    datasource = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    dashboard = load_dashboard()
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
        pos = panel["gridPos"]
        area = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells |= area
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_dashboard_provider_loads_the_dashboard_directory() -> None:
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "lytewatch.yml").read_text())
    path = provider["providers"][0]["options"]["path"]

    assert path == "/var/lib/grafana/dashboards"
    assert DASHBOARD.parent.name == "dashboards"
    assert load_dashboard()["uid"] == "lytewatch-overview"
