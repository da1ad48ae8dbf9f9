"""`lytewatch replay` on the settled edges: an overflowing decimal, another patient's ack, unknown systems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.worked_examples import worked_examples

from .test_replay import run_replay


def _observation(value: Any, system: str = "http://loinc.org") -> dict[str, Any]:
    return {
        "topic": "labs.results",
        "value": {
            "resourceType": "Observation",
            "id": "obs-huge",
            "status": "final",
            "code": {"coding": [{"system": system, "code": "2823-3"}]},
            "subject": {"reference": "Patient/P-EX1"},
            "effectiveDateTime": "2026-03-02T11:00:00Z",
            "valueQuantity": {"value": value, "unit": "mmol/L"},
        },
    }


def test_replay_survives_every_settled_edge_and_says_what_it_ignored(tmp_path: Path) -> None:
    examples = worked_examples()
    first = tmp_path / "first.ndjson"
    (tmp_path / "in.ndjson").write_bytes(b"\n".join(orjson.dumps(e) for e in examples) + b"\n")
    assert run_replay(str(tmp_path / "in.ndjson"), "--output", str(first)).returncode == 0
    fired = next(orjson.loads(line) for line in first.read_bytes().splitlines())
    other_patient_ack = {
        "topic": "alerts.acks",
        "value": {
            "alert_id": fired["alert_id"],
            "patient_id": "P-SOMEONE-ELSE",
            "by": "nurse1",
            "at": "2026-03-02T12:00:00Z",
        },
    }
    extra = [_observation("1E+999999999"), _observation(3.1, "http://loinc.org/fhir"), other_patient_ack]
    path = tmp_path / "edges.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in [*examples, *extra]) + b"\n")
    out, dead = tmp_path / "alerts.ndjson", tmp_path / "dead.ndjson"

    result = run_replay(str(path), "--output", str(out), "--deadletter", str(dead), "--summary")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert [orjson.loads(line)["reason"] for line in dead.read_bytes().splitlines()] == ["non_numeric_value"]
    assert "ignored unknown_code_system: 1" in result.stderr
    assert "ignored ack_changes_nothing: 1" in result.stderr
    # The ack named an alert of another patient: nothing was acknowledged, the alerts are those of before.
    assert out.read_bytes().count(b'"acknowledged"') == first.read_bytes().count(b'"acknowledged"')
    assert len(out.read_bytes().splitlines()) == len(first.read_bytes().splitlines())
