"""`lytewatch replay --jobs N`: the bytes of one process, on real and simulated feeds; progress on a tty."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

import orjson
import pytest

from tests.support.processes import LYTEWATCH, REPO

ENV = {"PATH": "/usr/bin:/bin"}


def lytewatch(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [*LYTEWATCH, *args], cwd=REPO, capture_output=True, timeout=300, env=ENV, check=False, **kwargs
    )
    assert done.returncode == 0, done.stderr.decode()
    return done


def replay_outputs(feed: Path, tmp_path: Path, jobs: int) -> tuple[bytes, list[dict[str, object]], str]:
    """Alert bytes, dead letters (parsed) and the --summary text of one replay."""
    alerts, dead = tmp_path / f"alerts-{jobs}.ndjson", tmp_path / f"dead-{jobs}.ndjson"
    done = lytewatch(
        "replay", str(feed), "--jobs", str(jobs), "-o", str(alerts), "--deadletter", str(dead), "--summary"
    )
    dead_letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    return alerts.read_bytes(), dead_letters, done.stderr.decode()


def assert_same_as_one_job(feed: Path, tmp_path: Path, jobs: int) -> tuple[bytes, list[dict[str, object]]]:
    alerts_1, dead_1, summary_1 = replay_outputs(feed, tmp_path, 1)
    alerts_n, dead_n, summary_n = replay_outputs(feed, tmp_path, jobs)
    assert alerts_n == alerts_1
    assert summary_n == summary_1
    # A dead letter's `at` is the replay's start time: one value per run, the only difference between runs.
    assert len({d.pop("at") for d in dead_1}) <= 1
    assert len({d.pop("at") for d in dead_n}) <= 1
    assert dead_n == dead_1
    return alerts_1, dead_1


def test_jobs_2_gives_the_bytes_of_jobs_1_on_the_mimic_feed(tmp_path: Path) -> None:
    feed = tmp_path / "mimic.ndjson"
    lytewatch("mimic", "-o", str(feed))
    alerts, dead = assert_same_as_one_job(feed, tmp_path, 2)
    assert alerts.count(b"\n") >= 10
    assert dead, "the MIMIC feed has a few unusable results; they must be dead-lettered in both runs"
    # Byte-identical because nothing in an alert event depends on the wall clock in a replay.
    assert all(a["emitted_at"] == a["event_time"] for a in map(orjson.loads, alerts.splitlines()))


@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_give_the_bytes_of_one_job_on_a_simulated_feed_with_faults(tmp_path: Path, jobs: int) -> None:
    feed = tmp_path / "sim.ndjson"
    lytewatch(
        "simulate", "--patients", "150", "--events", "6000", "--seed", "5", "--bad", "0.05", "-o", str(feed)
    )
    # Lines no shard can route on patient_id: not JSON, a wrong topic, blank, a numeric patient id.
    numeric_patient = {
        "topic": "labs.results",
        "value": {
            "result_id": "NUM-1",
            "patient_id": 4242,
            "code": "2823-3",
            "value": 3.1,
            "unit": "mmol/L",
            "collected_at": "2025-01-06T10:00:00+00:00",
        },
    }
    wrong_topic = orjson.dumps({"topic": "billing", "value": {}})
    extra = [b"{not json", wrong_topic, b"", orjson.dumps(numeric_patient)]
    lines = feed.read_bytes().splitlines()
    for n, line in enumerate(extra):
        lines.insert(500 * (n + 1), line)
    feed.write_bytes(b"\n".join(lines) + b"\n")
    text = feed.read_text()
    assert "MSH|" in text and "resourceType" in text, "the feed mixes HL7 v2 and FHIR with native JSON"

    alerts, dead = assert_same_as_one_job(feed, tmp_path, jobs)
    assert alerts.count(b"\n") >= 10
    reasons = {d["reason"] for d in dead}
    assert {"not_json", "schema_error"} <= reasons


def test_jobs_need_a_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [*LYTEWATCH, "replay", "-", "--jobs", "2"],
        cwd=REPO,
        capture_output=True,
        env=ENV,
        input=b"",
        check=False,
    )
    assert done.returncode == 2
    assert b"give a file, not stdin" in done.stderr


def test_a_progress_bar_on_a_terminal_and_silence_otherwise(tmp_path: Path) -> None:
    feed = tmp_path / "mimic.ndjson"
    lytewatch("mimic", "-o", str(feed))
    quiet = lytewatch("replay", str(feed), "-o", os.devnull)
    assert quiet.stderr == b""

    for jobs in ("1", "2"):
        primary, secondary = pty.openpty()
        try:
            done = subprocess.run(
                [*LYTEWATCH, "replay", str(feed), "-o", os.devnull, "--jobs", jobs],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=secondary,
                env={**ENV, "TERM": "xterm", "COLUMNS": "120"},
                timeout=300,
                check=False,
            )
            os.close(secondary)
            drawn = b""
            while True:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # the pty is closed once everything is read
                    break
                if not chunk:
                    break
                drawn += chunk
        finally:
            os.close(primary)
        assert done.returncode == 0
        lines = feed.read_bytes().count(b"\n")
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", drawn)
        assert f"{lines}/{lines} lines".encode() in text, text[-500:]
