"""A real `lytewatch worker` on the real broker, scraped by a real Prometheus server."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.kafka import consume, produce
from tests.support.ports import free_port
from tests.support.processes import Process, WorkerEnv, wait_until_ready
from tests.support.waiting import eventually
from tests.unit.ops.deploy_files import (
    PROMETHEUS_OWN,
    RULES,
    dashboard_exprs,
    load_rules,
    metric_names,
    require_tool,
    rule_exprs,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Served by other processes than the worker (each checked by its own tests): the notifier, the MLLP listener.
OTHER_PROCESSES_ONLY = frozenset({"lytewatch_notifications_total", "lytewatch_mllp_messages_total"})
START_TIMEOUT_S = 90.0
T = TypeVar("T")


def _get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Worker:
    process: Process
    env: WorkerEnv

    @property
    def port(self) -> int:
        return self.env.web_port

    @property
    def topics(self) -> dict[str, str]:
        return self.env.topics

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Sample name -> [(labels, value)] of the worker's /metrics page."""
        status, body = _get(self.metrics_url)
        assert status == 200, body
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
        return samples


@pytest.fixture
def start_worker(make_worker_env: Callable[..., WorkerEnv], tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    """Start `lytewatch worker` on unique topics, app id and data dir; wait until /readyz says ready."""
    started: list[Process] = []

    def start() -> Worker:
        env = make_worker_env()
        process = Process(["worker"], env.environ(), tmp_path / f"worker{len(started)}.log")
        started.append(process)
        wait_until_ready(process, env.url, START_TIMEOUT_S)
        return Worker(process, env)

    yield start
    for process in started:
        process.stop(timeout=20)


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """Start /usr/bin/prometheus on loopback scraping a worker port every second, with the project's rules."""
    binary = require_tool("prometheus")
    procs: list[Process] = []

    def start(worker_port: int) -> str:
        home = tmp_path / f"prometheus{len(procs)}"
        home.mkdir()
        (home / "rules.yml").write_text(RULES.read_text())
        (home / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files: [rules.yml]\n"
            "scrape_configs:\n"
            "  - job_name: lytewatch-worker\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]\n"
        )
        port = free_port()
        args = [
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        proc = Process(args, dict(os.environ), home / "prometheus.log", program=[binary], cwd=home)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        _wait_for("prometheus /-/ready", lambda: _get(f"{url}/-/ready")[0] == 200, 60.0, proc)
        return url

    yield start
    for proc in procs:
        proc.stop(timeout=20)


def _wait_for(what: str, check: Callable[[], T], within: float, process: Process) -> T:
    """Poll until `check` holds; an unreachable server or an incomplete answer only means "not yet"."""
    return eventually(
        check, what, within=within, interval=0.5, alive=process.death, ignore=(OSError, ValueError, KeyError)
    )


def _query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    status, body = _get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    data = json.loads(body)
    assert status == 200 and data["status"] == "success", body
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def _send_depletion_case(bootstrap: str, topics: dict[str, str], patient: str) -> None:
    """A loop diuretic, then low K and low Mg: enough for KMG_COMBINED to fire; plus one unreadable result."""
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    def iso(minutes: int) -> str:
        return (t0 + timedelta(minutes=minutes)).isoformat()

    order = {
        "order_id": f"{patient}-o1",
        "patient_id": patient,
        "medication": {
            "code": "4603",
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "display": "furosemide 40 mg IV",
        },
        "status": "active",
        "start": iso(0),
        "recorded_at": iso(0),
    }
    labs = [
        {
            "result_id": f"{patient}-k",
            "patient_id": patient,
            "code": "2823-3",
            "system": "http://loinc.org",
            "value": 2.9,
            "unit": "mmol/L",
            "collected_at": iso(60),
        },
        {
            "result_id": f"{patient}-mg",
            "patient_id": patient,
            "code": "2601-3",
            "system": "http://loinc.org",
            "value": 0.48,
            "unit": "mmol/L",
            "collected_at": iso(61),
        },
    ]
    key = patient.encode()
    asyncio.run(produce(bootstrap, topics["orders"], [(key, json.dumps(order).encode())]))
    asyncio.run(
        produce(
            bootstrap,
            topics["labs"],
            [(key, json.dumps(lab).encode()) for lab in labs] + [(key, b"this is not json")],
        )
    )


def test_every_metric_the_dashboard_and_rules_use_is_on_a_running_worker(
    start_worker: Callable[[], Worker], kafka_bootstrap: str
) -> None:
    worker = start_worker()
    _send_depletion_case(kafka_bootstrap, worker.topics, "MRN-PROM-1")
    alerts = asyncio.run(consume(kafka_bootstrap, worker.topics["alerts"], expected=1, timeout=60))
    assert alerts, f"no alert produced (worker log: {worker.process.log_path})"

    used = {name for expr in dashboard_exprs() + rule_exprs() for name in metric_names(expr)}
    wanted = used - PROMETHEUS_OWN - OTHER_PROCESSES_ONLY

    # Gauges such as the consumer lag are set by timers, so give them a few rounds to appear.
    missing: list[str] = []

    def all_there() -> bool:
        missing[:] = sorted(wanted - set(worker.scrape()))
        return not missing

    try:
        _wait_for("every metric the dashboard or rules query", all_there, 45.0, worker.process)
    except AssertionError as exc:
        not_served = f"queried by the dashboard or rules but not on the worker's /metrics: {missing}"
        raise AssertionError(not_served) from exc


def test_worker_metrics_never_label_a_patient(
    start_worker: Callable[[], Worker], kafka_bootstrap: str
) -> None:
    worker = start_worker()
    patient = "MRN-PROM-LABEL-7"
    _send_depletion_case(kafka_bootstrap, worker.topics, patient)
    assert asyncio.run(consume(kafka_bootstrap, worker.topics["alerts"], expected=1, timeout=60))

    samples = worker.scrape()
    label_values = {value for series in samples.values() for labels, _ in series for value in labels.values()}

    assert not {v for v in label_values if patient in v}


def test_prometheus_scrapes_input_counter_and_latency_histogram(
    start_worker: Callable[[], Worker],
    start_prometheus: Callable[[int], str],
    kafka_bootstrap: str,
) -> None:
    worker = start_worker()
    prometheus = start_prometheus(worker.port)
    labs, orders = worker.topics["labs"], worker.topics["orders"]

    _send_depletion_case(kafka_bootstrap, worker.topics, "MRN-PROM-2")
    assert asyncio.run(consume(kafka_bootstrap, worker.topics["alerts"], expected=1, timeout=60))

    def labs_counted() -> float:
        result = _query(prometheus, f'sum(lytewatch_input_messages_total{{topic="{labs}"}})')
        return float(result[0]["value"][1]) if result and float(result[0]["value"][1]) >= 3 else 0.0

    assert _wait_for("3 lab messages counted in Prometheus", labs_counted, 60.0, worker.process) == 3.0
    orders_counted = _query(prometheus, f'sum(lytewatch_input_messages_total{{topic="{orders}"}})')
    assert float(orders_counted[0]["value"][1]) == 1.0
    dead = _query(prometheus, f'sum(lytewatch_deadletter_total{{topic="{labs}", reason="not_json"}})')
    assert float(dead[0]["value"][1]) == 1.0
    fired = _query(prometheus, 'sum(lytewatch_alert_transitions_total{rule="KMG_COMBINED", event="fired"})')
    assert float(fired[0]["value"][1]) >= 1.0

    def latency_observed() -> list[dict[str, Any]]:
        return _query(prometheus, "lytewatch_processing_latency_seconds_count > 0")

    _wait_for("processing latency observations in Prometheus", latency_observed, 30.0, worker.process)
    buckets = _query(prometheus, "lytewatch_processing_latency_seconds_bucket")
    assert {b["metric"]["le"] for b in buckets} >= {"0.001", "10.0", "+Inf"}
    p99 = _query(
        prometheus, "histogram_quantile(0.99, sum by (le) (lytewatch_processing_latency_seconds_bucket))"
    )
    assert 0 < float(p99[0]["value"][1]) <= 10
    e2e = _query(prometheus, "sum(lytewatch_end_to_end_latency_seconds_count)")
    assert float(e2e[0]["value"][1]) >= 1.0
    up = _query(prometheus, 'up{job="lytewatch-worker"}')
    assert [float(s["value"][1]) for s in up] == [1.0]


def _rfc3339(value: str) -> datetime:
    # Prometheus writes nanoseconds; Python parses at most microseconds.
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def test_prometheus_evaluates_every_rule_without_error_on_live_data(
    start_worker: Callable[[], Worker], start_prometheus: Callable[[int], str]
) -> None:
    worker = start_worker()
    prometheus = start_prometheus(worker.port)
    _wait_for("first scrape", lambda: _query(prometheus, "lytewatch_build_info"), 30.0, worker.process)
    scraped_at = datetime.now(UTC)

    def rules_evaluated_since_scrape() -> list[dict[str, Any]]:
        status, body = _get(f"{prometheus}/api/v1/rules")
        rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
        fresh = [r for r in rules if _rfc3339(r["lastEvaluation"]) > scraped_at]
        return rules if status == 200 and rules and len(fresh) == len(rules) else []

    rules = _wait_for(
        "every rule evaluated on scraped data", rules_evaluated_since_scrape, 30.0, worker.process
    )

    assert {r["name"] for r in rules} == {r["alert"] for r in load_rules()}
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    # A healthy worker that has just started, with no traffic history, trips nothing.
    assert [r["name"] for r in rules if r["state"] != "inactive"] == []
