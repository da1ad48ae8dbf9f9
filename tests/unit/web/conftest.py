"""Factory fixtures of the dashboard's unit tests: alert events as the engine publishes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.models import AlertEvent

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

MakeEvent = Callable[..., AlertEvent]


@pytest.fixture
def make_event() -> MakeEvent:
    """Build an AlertEvent; keyword arguments override the defaults (unit/bed/minutes are shortcuts)."""

    def make(
        alert_id: str = "kmg-1",
        revision: int = 1,
        event: str = "fired",
        *,
        severity: str = "moderate",
        rule: str = "KMG_COMBINED",
        unit: str | None = "4W",
        bed: str = "A",
        minutes: int = 0,
        **overrides: Any,
    ) -> AlertEvent:
        at = T0 + timedelta(minutes=minutes)
        data: dict[str, Any] = {
            "alert_id": alert_id,
            "revision": revision,
            "event": event,
            "rule": rule,
            "rules_version": "2026.1",
            "severity": severity,
            "patient_id": f"MRN-{alert_id}",
            "location": {"unit": unit, "room": "12", "bed": bed} if unit else None,
            "summary": "K 3.1 mmol/L and Mg 0.62 mmol/L on furosemide (loop diuretic)",
            "recommendation": "Replete magnesium together with potassium.",
            "evidence": {
                "potassium": {"value": 3.1, "collected_at": at.isoformat(), "result_id": "k1"},
                "magnesium": {"value": 0.62, "collected_at": at.isoformat(), "result_id": "m1"},
                "diuretics": [
                    {"order_id": "o1", "ingredient": "furosemide", "class": "loop", "start": T0.isoformat()}
                ],
            },
            "reason": "normalized" if event == "resolved" else None,
            "event_time": at.isoformat(),
            "emitted_at": (at + timedelta(seconds=1)).isoformat(),
        }
        data.update(overrides)
        return AlertEvent.model_validate(data)

    return make
