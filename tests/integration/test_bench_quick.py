"""`lytewatch bench --quick` on the real broker: every figure in its JSON is there and a positive number."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import LYTEWATCH, REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The figures a reader of docs/BENCHMARKS.md compares with the targets, and the sizes behind them.
FIGURES = (
    "throughput_events",
    "throughput_bare_consumer_events_per_s",
    "throughput_worker_events_per_s",
    "throughput_ratio",
    "throughput_worker_cpu_percent",
    "whole_feed_events",
    "whole_feed_bare_consumer_events_per_s",
    "whole_feed_worker_events_per_s",
    "whole_feed_ratio",
    "latency_rate_achieved_events_per_s",
    "latency_e2e_samples",
    "latency_e2e_p50_ms",
    "latency_e2e_p95_ms",
    "latency_e2e_p99_ms",
    "latency_processing_samples",
    "latency_processing_p50_ms",
    "latency_processing_p95_ms",
    "latency_processing_p99_ms",
    "recovery_patients",
    "recovery_restored_entries",
    "recovery_seconds",
    "recovery_changelog_seconds",
    "memory_rss_idle_bytes",
    "memory_rss_bytes_per_patient",
    "memory_rss_mb_per_10k_patients",
    "peer_events",
    "peer_lytewatch_events_per_s",
    "peer_faust_events_per_s",
    "peer_faust_ratio",
    "failover_seconds",
    "replay_events",
    "replay_events_per_s",
    "replay_jobs2_events_per_s",
    "replay_jobs2_speedup",
    "replay_events_per_cpu_s",
    "size_throughput_events",
    "size_whole_feed_events",
    "size_latency_rate_events_per_s",
    "size_latency_seconds",
    "size_recovery_patients",
)
MACHINE = ("cpu_model", "cpu_cores", "ram_bytes", "python", "kafka_version")


@pytest.mark.timeout(900)
def test_quick_bench_reports_every_figure(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LYTEWATCH_")}
    env["LYTEWATCH_BROKER"] = f"kafka://{kafka_bootstrap}"
    env["LYTEWATCH_PARTITIONS"] = "2"

    done = subprocess.run(
        [*LYTEWATCH, "bench", "--quick", "--json", str(out)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=850,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(out.read_text())
    missing = [key for key in FIGURES if key not in figures]
    assert not missing, f"figures missing from the JSON: {missing}"
    not_positive = {
        key: figures[key]
        for key in FIGURES
        if not (isinstance(figures[key], int | float) and math.isfinite(figures[key]) and figures[key] > 0)
    }
    assert not not_positive, f"figures that are not positive numbers: {not_positive}"
    # Quix Streams lives in its own virtualenv (make bench-peers): measured, or null with the reason.
    quix = figures["peer_quix_ratio"]
    assert (isinstance(quix, float) and quix > 0) or (quix is None and figures["peer_quix_reason"]), figures
    assert figures["quick"] is True
    assert figures["recovery_restored_entries"] == figures["recovery_patients"] == 5000
    assert figures["throughput_events"] == figures["size_throughput_events"] == 20000
    assert figures["whole_feed_events"] == figures["size_whole_feed_events"] == 100000
    assert all(figures["machine"].get(key) for key in MACHINE), figures["machine"]
    # The human table carries the same figures.
    assert "throughput: lytewatch worker" in done.stdout
    assert "latency: end-to-end p99" in done.stdout
    assert "memory: RSS per 10,000 patients" in done.stdout
    assert "whole lab feed: worker / bare consumer" in done.stdout
    assert "peer job: lytewatch / faust app" in done.stdout
    assert "failover: SIGKILL -> first alert from its partitions" in done.stdout
