"""`lytewatch replay`: the engine over a file, with dead letters and a silent-mode summary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from tests.support.processes import LYTEWATCH, REPO
from tests.worked_examples import worked_examples


@pytest.fixture
def replay_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.ndjson"
    lines = [orjson.dumps(e) for e in worked_examples()]
    # Bad lines must not stop the replay: not JSON, a wrong topic, a bad value.
    lines.insert(3, b"{not json")
    lines.insert(5, orjson.dumps({"topic": "billing", "value": {}}))
    lines.append(
        orjson.dumps({"topic": "labs.results", "value": {**worked_examples()[3]["value"], "value": "<1.0"}})
    )
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def run_replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LYTEWATCH, "replay", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_replay_writes_alerts_dead_letters_and_a_summary(replay_file: Path, tmp_path: Path) -> None:
    out, dead = tmp_path / "alerts.ndjson", tmp_path / "dead.ndjson"
    result = run_replay(str(replay_file), "--output", str(out), "--deadletter", str(dead), "--summary")
    assert result.returncode == 0, result.stderr

    alerts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    kinds = [(a["patient_id"], a["rule"], a["event"], a["severity"]) for a in alerts]
    assert ("P-EX1", "KMG_COMBINED", "fired", "moderate") in kinds
    assert ("P-EX2", "KMG_COMBINED", "escalated", "critical") in kinds
    assert ("P-EX7", "KMG_COMBINED", "fired", "high") in kinds
    assert all(a["emitted_at"] for a in alerts)

    reasons = sorted(orjson.loads(line)["reason"] for line in dead.read_bytes().splitlines())
    assert reasons == ["non_numeric_value", "not_json", "schema_error"]

    summary = result.stderr
    assert "dead-lettered: 3" in summary
    assert "KMG_COMBINED  escalated     critical  1" in summary
    assert "patients with alerts: 5" in summary
    assert "alerts per 100 patient-days:" in summary


def test_two_replays_give_the_same_bytes(replay_file: Path, tmp_path: Path) -> None:
    runs = []
    for n in range(2):
        out = tmp_path / f"run{n}.ndjson"
        assert run_replay(str(replay_file), "--output", str(out)).returncode == 0
        runs.append(out.read_bytes())
    assert runs[0] == runs[1]
    alerts = [orjson.loads(line) for line in runs[0].splitlines()]
    assert len(alerts) > 5
    # The replayed timeline has no wall clock: an alert is emitted at its event time.
    assert all(a["emitted_at"] == a["event_time"] for a in alerts)


def test_a_rules_file_changes_the_thresholds(replay_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules_version: strict-test\nthresholds:\n  magnesium_low: 0.60\n")
    out = tmp_path / "alerts.ndjson"
    result = run_replay(str(replay_file), "--rules", str(rules), "--output", str(out))
    assert result.returncode == 0, result.stderr
    alerts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert {a["rules_version"] for a in alerts} == {"strict-test"}
    # Example 1's Mg 0.62 is no longer low under a 0.60 threshold.
    assert not any(a["patient_id"] == "P-EX1" and a["rule"] == "KMG_COMBINED" for a in alerts)


def test_a_bad_rules_file_fails_naming_the_key(replay_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("thresholds:\n  potassium_low: lots\n")
    result = run_replay(str(replay_file), "--rules", str(rules))
    assert result.returncode == 2
    assert "thresholds.potassium_low" in result.stderr


def test_the_documented_example_file_is_the_worked_examples() -> None:
    committed = (REPO / "docs" / "examples" / "worked-examples.ndjson").read_bytes().splitlines()
    assert [orjson.loads(line) for line in committed] == worked_examples()
