"""The demo's plan: MIMIC-IV's alerting stays come first, and nothing of the feed is lost."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import orjson
import pytest

from alerts.codes import load_code_mapping
from alerts.rulesfile import RulesConfig
from streams.demo_plan import plan_demo
from streams.feeds import Envelope
from streams.feeds.mimic import iter_mimic
from streams.replay import replay
from tests.conftest import MIMIC_DIR

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _alerts(envelopes: list[Envelope]) -> list[dict[str, object]]:
    out = io.BytesIO()
    lines = (orjson.dumps(e) for e in envelopes)
    replay(lines, rules=RulesConfig(), mapping=load_code_mapping(None), tz=UTC, alerts_out=out)
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_mimic_alerting_stays_come_first() -> None:
    if not (MIMIC_DIR / "hosp").is_dir():
        pytest.fail(f"the MIMIC-IV demo is missing at {MIMIC_DIR}")
    mimic_dir = MIMIC_DIR
    plan = plan_demo(mimic_dir, rules=RulesConfig(), mapping=load_code_mapping(None), tz=UTC)
    assert plan.alerting_patients == 7
    assert plan.mimic_patients == 100
    timed = list(plan.schedule(START, cohort_rounds=0))
    assert [due for due, _ in timed] == sorted(due for due, _ in timed)

    def mimic_alerting_patients(within: float) -> set[object]:
        return {a["patient_id"] for a in _alerts([e for due, e in timed if due <= within])}

    # The first real alert comes within the 15 s goal, and every alerting stay within about a minute.
    assert mimic_alerting_patients(15.0)
    assert len(mimic_alerting_patients(plan.rest_starts_at)) == 7
    # Nothing is lost by the reordering: every MIMIC record is sent once.
    assert sorted(orjson.dumps(e) for _, e in timed) == sorted(orjson.dumps(e) for e in iter_mimic(mimic_dir))
    assert "28,800x" in plan.describe() and "7 alerting stays" in plan.describe()
