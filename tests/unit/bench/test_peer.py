"""The peer job's step function and the peer phase's figures (ratios; a peer that could not run)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.bench.peer import Drain, peer_figures
from streams.bench.peers.job import PeerJob, step


@pytest.fixture
def job() -> PeerJob:
    return PeerJob(
        bootstrap="127.0.0.1:1",
        group="g",
        input_topic="labs",
        output_topic="out",
        state_dir="/tmp/x",
        partitions=2,
        k_codes=("2823-3",),
        mg_codes=("2601-3",),
        k_low=3.5,
        mg_low=0.70,
    )


def result(code: str, value: float, at: str) -> bytes:
    return orjson.dumps({"patient_id": "P1", "code": code, "value": value, "collected_at": at})


def test_a_record_when_the_latest_k_and_mg_are_both_low(job: PeerJob) -> None:
    latest, out = step(job, None, result("2823-3", 3.1, "2025-01-06T01:00:00Z"))
    assert latest == {"k": [3.1, "2025-01-06T01:00:00Z"]} and out is None
    latest, out = step(job, latest, result("2601-3", 0.6, "2025-01-06T02:00:00Z"))
    assert out is not None
    assert orjson.loads(out) == {"patient_id": "P1", "k": 3.1, "mg": 0.6, "at": "2025-01-06T02:00:00Z"}
    # A normal K: the pair is no longer both low.
    latest, out = step(job, latest, result("2823-3", 4.0, "2025-01-06T03:00:00Z"))
    assert latest is not None and latest["k"] == [4.0, "2025-01-06T03:00:00Z"] and out is None


def test_an_older_result_or_another_test_changes_nothing(job: PeerJob) -> None:
    latest = {"k": [3.1, "2025-01-06T05:00:00Z"], "mg": [0.9, "2025-01-06T05:00:00Z"]}
    assert step(job, latest, result("2823-3", 2.0, "2025-01-06T04:00:00Z")) == (None, None)
    assert step(job, latest, result("2951-2", 120.0, "2025-01-06T06:00:00Z")) == (None, None)


def test_the_job_file_round_trips(job: PeerJob, tmp_path: Path) -> None:
    job.write(tmp_path / "job.json")
    assert PeerJob.read(tmp_path / "job.json") == job


def test_ratios_are_lytewatch_over_each_peer() -> None:
    figures = peer_figures(
        1000, Drain(2000.0, 4000.0, 0.5), faust=Drain(1000.0, 1000.0, 1.0), quix=Drain(4000.0, 8000.0, 0.25)
    )
    assert figures["peer_events"] == 1000
    assert figures["peer_faust_ratio"] == 2.0 and figures["peer_faust_cpu_ratio"] == 4.0
    assert figures["peer_quix_ratio"] == 0.5 and figures["peer_quix_cpu_ratio"] == 0.5
    assert "peer_quix_reason" not in figures


def test_a_peer_that_could_not_run_is_null_with_its_reason() -> None:
    figures = peer_figures(
        1000, Drain(2000.0, 4000.0, 0.5), faust=Drain(1000.0, 1000.0, 1.0), quix="not installed"
    )
    assert figures["peer_quix_ratio"] is None and figures["peer_quix_events_per_s"] is None
    assert figures["peer_quix_cpu_ratio"] is None and figures["peer_quix_events_per_cpu_s"] is None
    assert figures["peer_quix_reason"] == "not installed"
    assert figures["peer_faust_ratio"] == 2.0
