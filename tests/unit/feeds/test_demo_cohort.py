"""The demo's synthetic alerting cohort: every kind of transition and resolve reason, rounds that repeat."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import orjson
import pytest

from alerts.codes import load_code_mapping
from alerts.rulesfile import RulesConfig
from streams.feeds import Envelope
from streams.feeds.demo_cohort import DEMO_ACK_USER, ROUND_SECONDS, cohort_schedule
from streams.replay import replay

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _alerts(envelopes: list[Envelope]) -> list[dict[str, object]]:
    out = io.BytesIO()
    replay(
        (orjson.dumps(e) for e in envelopes),
        rules=RulesConfig(),
        mapping=load_code_mapping(None),
        tz=UTC,
        alerts_out=out,
    )
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_one_cohort_round_shows_every_transition_kind_and_resolve_reason_within_two_minutes() -> None:
    timed = list(cohort_schedule(START, rounds=1))
    assert max(due for due, _ in timed) < 120
    alerts = _alerts([envelope for _, envelope in timed])
    assert {a["event"] for a in alerts} == {"fired", "escalated", "updated", "acknowledged", "resolved"}
    assert {a["reason"] for a in alerts if a["event"] == "resolved"} == {
        "normalized",
        "superseded",
        "retracted",
        "discharged",
    }
    assert {a["severity"] for a in alerts} == {"advisory", "moderate", "high", "critical"}
    acked = [a for a in alerts if a["event"] == "acknowledged"]
    assert acked and all(a["acknowledged_by"] == DEMO_ACK_USER for a in acked)
    # Every envelope's event time is the moment it is due, so ages on the page are true.
    for due, envelope in timed:
        value = envelope["value"]
        stamp = (
            value.get("resulted_at") or value.get("recorded_at") or value.get("occurred_at") or value["at"]
        )
        assert (datetime.fromisoformat(stamp) - START).total_seconds() == pytest.approx(due)


def test_rounds_repeat_with_new_patients_and_discharge_the_previous_rounds_open_alert() -> None:
    timed = list(cohort_schedule(START, rounds=3))
    assert [due for due, _ in timed] == sorted(due for due, _ in timed)
    alerts = _alerts([envelope for _, envelope in timed])
    patients = {a["patient_id"] for a in alerts}
    assert {"DEMO-000-A", "DEMO-001-A", "DEMO-002-A"} <= patients
    left_open = {a["alert_id"] for a in alerts} - {a["alert_id"] for a in alerts if a["event"] == "resolved"}
    # Only the last round's acknowledged high alert (D) is left: the board does not fill up.
    assert {a["patient_id"] for a in alerts if a["alert_id"] in left_open} == {"DEMO-002-D"}
    assert ROUND_SECONDS * 2 < max(due for due, _ in timed) < ROUND_SECONDS * 3
