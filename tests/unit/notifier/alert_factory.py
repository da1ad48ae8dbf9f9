"""Build AlertEvent objects for notifier tests (shared by the unit and end-to-end tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alerts.models import AlertEvent

BASE_TIME = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def build_alert(**overrides: Any) -> AlertEvent:
    """A KMG_COMBINED `fired` event at BASE_TIME for MRN0001 in 4W bed A; override any field."""
    data: dict[str, Any] = {
        "alert_id": "kmg-0001",
        "revision": 1,
        "event": "fired",
        "rule": "KMG_COMBINED",
        "rules_version": "2026.1",
        "severity": "moderate",
        "patient_id": "MRN0001",
        "encounter_id": "E42",
        "location": {"unit": "4W", "room": "12", "bed": "A"},
        "summary": "K 3.1 mmol/L and Mg 0.62 mmol/L on furosemide (loop diuretic)",
        "recommendation": "Replete magnesium together with potassium.",
        "evidence": {
            "potassium": {"value": 3.1, "collected_at": BASE_TIME.isoformat(), "result_id": "K1"},
            "magnesium": {
                "value": 0.62,
                "as_sent": {"value": 1.51, "unit": "mg/dL"},
                "collected_at": BASE_TIME.isoformat(),
                "result_id": "M1",
            },
            "diuretics": [
                {
                    "order_id": "O1",
                    "ingredient": "furosemide",
                    "class": "loop",
                    "start": BASE_TIME.isoformat(),
                }
            ],
        },
        "event_time": BASE_TIME.isoformat(),
        "emitted_at": BASE_TIME.isoformat(),
    }
    data.update(overrides)
    return AlertEvent.model_validate(data)
