"""Factories shared by the operations unit tests: alert events and metric scrapes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import (
    AlertEvent,
    AlertEventKind,
    Evidence,
    LabEvidence,
    Location,
    RuleId,
    Severity,
)
from streams.metrics import Metrics


@pytest.fixture
def make_alert() -> Callable[..., AlertEvent]:
    """Build an AlertEvent; keyword arguments override the defaults."""

    def make(**overrides: Any) -> AlertEvent:
        fields: dict[str, Any] = {
            "alert_id": "kmg-0001",
            "revision": 1,
            "event": AlertEventKind.FIRED,
            "rule": RuleId.KMG_COMBINED,
            "rules_version": "2026.1",
            "severity": Severity.HIGH,
            "patient_id": "MRN0001",
            "encounter_id": "E0001",
            "location": Location(unit="4W", room="12", bed="A"),
            "summary": "K 2.9 mmol/L and Mg 0.48 mmol/L on furosemide (loop diuretic)",
            "recommendation": "Replete magnesium together with potassium",
            "evidence": Evidence(
                potassium=LabEvidence(
                    value=2.9, collected_at=datetime(2026, 1, 5, 8, tzinfo=UTC), result_id="r1"
                )
            ),
            "event_time": datetime(2026, 1, 5, 8, tzinfo=UTC),
        }
        fields.update(overrides)
        return AlertEvent(**fields)

    return make


@pytest.fixture
def make_metrics() -> Callable[[], Metrics]:
    """Build a Metrics on its own fresh registry, so tests never share counters."""

    def make() -> Metrics:
        return Metrics(CollectorRegistry())

    return make


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def scrape() -> Callable[[Metrics], Samples]:
    """Render a Metrics the way Prometheus reads it: {(sample name, labels): value}."""

    def read(metrics: Metrics) -> Samples:
        text = metrics.render().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    return read
