"""Engine behaviour around lab results: the clock, duplicates, corrections, cancellations, windows, tiers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.models import AlertEvent, AlertEventKind, Location, ResolveReason, RuleId, Severity
from alerts.rulesfile import RulesConfig, Thresholds
from alerts.state import encode_state
from tests.unit.alerts.conftest import Hours, MakeAdt, MakeLab, MakeOrder, MakeOru, MakeResult, MakeRun, Run

US = timedelta(microseconds=1)


def kinds(events: list[AlertEvent]) -> list[tuple[AlertEventKind, RuleId]]:
    return [(e.event, e.rule) for e in events]


@pytest.fixture
def on_furosemide(run: MakeRun, order: MakeOrder, hours: Hours) -> MakeRun:
    """A patient on furosemide since day 1 00:00 (active, open-ended)."""

    def make(rules: RulesConfig | None = None) -> Run:
        patient = run(rules)
        patient.feed(order("furosemide", hours(0)))
        return patient

    return make


def test_identical_redelivery_changes_nothing(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = on_furosemide()
    message = oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10)))
    patient.feed(message)
    before = encode_state(patient.current)
    assert patient.feed(message) == []
    assert encode_state(patient.current) == before


def test_late_result_does_not_move_the_clock_back(
    on_furosemide: MakeRun, k: MakeLab, mg: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(k(3.1, hours(20)))
    out = patient.feed(mg(0.62, hours(10)))
    assert [(e.event, e.rule) for e in out] == [
        (AlertEventKind.RESOLVED, RuleId.KMG_CHECK_MG),
        (AlertEventKind.FIRED, RuleId.KMG_COMBINED),
    ]
    assert all(e.event_time == hours(20) for e in out)


def test_k_then_mg_in_separate_messages_resolves_check_mg_before_firing_combined(
    on_furosemide: MakeRun, k: MakeLab, mg: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    assert kinds(patient.feed(k(3.1, hours(10)))) == [(AlertEventKind.FIRED, RuleId.KMG_CHECK_MG)]
    out = patient.feed(mg(0.55, hours(11)))
    assert kinds(out) == [
        (AlertEventKind.RESOLVED, RuleId.KMG_CHECK_MG),
        (AlertEventKind.FIRED, RuleId.KMG_COMBINED),
    ]
    assert out[0].reason is ResolveReason.SUPERSEDED
    assert out[1].severity is Severity.HIGH


def test_ties_on_collected_at_go_to_the_result_received_later(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10), rid="R1"), result("Mg", 0.6, hours(10))))
    out = patient.feed(k(3.8, hours(10), rid="R2"))
    assert [(e.event, e.reason) for e in out] == [(AlertEventKind.RESOLVED, ResolveReason.NORMALIZED)]
    assert out[0].evidence.potassium is not None and out[0].evidence.potassium.result_id == "R2"


def test_correction_replaces_the_result_with_the_same_id(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10), rid="R1"), result("Mg", 0.62, hours(10))))
    out = patient.feed(k(2.4, hours(10), rid="R1", status="corrected"))
    assert [(e.event, e.severity, e.revision) for e in out] == [
        (AlertEventKind.ESCALATED, Severity.CRITICAL, 2)
    ]
    potassium = out[0].evidence.potassium
    assert potassium is not None and (potassium.result_id, potassium.value) == ("R1", 2.4)


def test_correction_to_a_normal_value_resolves_normalized(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10), rid="R1"), result("Mg", 0.62, hours(10))))
    out = patient.feed(k(3.6, hours(10), rid="R1", status="corrected"))
    assert [(e.event, e.reason) for e in out] == [(AlertEventKind.RESOLVED, ResolveReason.NORMALIZED)]


def test_cancelled_k_with_an_older_low_k_still_current_is_an_update(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(k(3.2, hours(8), rid="R0"))
    patient.feed(oru(result("K", 3.1, hours(10), rid="R1"), result("Mg", 0.62, hours(10))))
    out = patient.feed(k(None, hours(10), rid="R1", status="entered-in-error"))
    assert [e.event for e in out] == [AlertEventKind.UPDATED]
    assert out[0].evidence.potassium is not None and out[0].evidence.potassium.result_id == "R0"


def test_retraction_is_the_first_reason_even_when_mg_also_normalizes(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10), rid="R1"), result("Mg", 0.62, hours(10))))
    out = patient.feed(
        oru(result("K", None, hours(10), rid="R1", status="cancelled"), result("Mg", 0.9, hours(11)))
    )
    assert [(e.event, e.reason) for e in out] == [(AlertEventKind.RESOLVED, ResolveReason.RETRACTED)]


def test_cancellation_before_the_result_it_cancels_is_replaced_by_arrival(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(k(None, hours(10), rid="R1", status="cancelled"))
    out = patient.feed(oru(result("K", 3.1, hours(10), rid="R1"), result("Mg", 0.6, hours(10))))
    assert [e.event for e in out] == [AlertEventKind.FIRED]


def test_older_result_arriving_late_does_not_displace_the_current_one(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10))))
    assert patient.feed(k(3.9, hours(9))) == []


def test_k_collected_exactly_48h_ago_is_still_current_and_expires_just_after(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, adt: MakeAdt, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10))))
    assert patient.feed(adt("transfer", hours(10 + 48))) == []
    out = patient.feed(adt("transfer", hours(10 + 48) + US, unit="5E"))
    assert [(e.event, e.reason) for e in out] == [(AlertEventKind.RESOLVED, ResolveReason.EXPIRED)]
    assert out[0].evidence.potassium is None
    assert out[0].location is not None and out[0].location.unit == "5E"


def test_mg_collected_exactly_72h_ago_is_still_current_and_expires_just_after(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10))))
    out = patient.feed(k(3.2, hours(10 + 72)))
    assert [e.event for e in out] == [AlertEventKind.UPDATED]
    assert out[0].evidence.magnesium is not None
    out = patient.feed(k(3.2, hours(10 + 72) + US))
    assert [(e.event, e.rule, e.reason) for e in out] == [
        (AlertEventKind.RESOLVED, RuleId.KMG_COMBINED, ResolveReason.EXPIRED),
        (AlertEventKind.FIRED, RuleId.KMG_CHECK_MG, None),
    ]


@pytest.mark.parametrize(
    ("potassium", "magnesium", "severity"),
    [
        (3.1, 0.62, Severity.MODERATE),
        (3.0, 0.60, Severity.MODERATE),
        (2.99, 0.65, Severity.HIGH),
        (3.2, 0.59, Severity.HIGH),
        (2.5, 0.50, Severity.HIGH),
        (2.49, 0.65, Severity.CRITICAL),
        (3.4, 0.49, Severity.CRITICAL),
    ],
)
def test_each_severity_tier_and_its_boundaries(
    on_furosemide: MakeRun,
    result: MakeResult,
    oru: MakeOru,
    hours: Hours,
    potassium: float,
    magnesium: float,
    severity: Severity,
) -> None:
    patient = on_furosemide()
    out = patient.feed(oru(result("K", potassium, hours(10)), result("Mg", magnesium, hours(10))))
    assert [(e.event, e.severity) for e in out] == [(AlertEventKind.FIRED, severity)]


@pytest.mark.parametrize(("potassium", "magnesium"), [(3.5, 0.5), (3.0, 0.70)])
def test_values_at_the_threshold_are_not_low(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, hours: Hours, potassium: float, magnesium: float
) -> None:
    patient = on_furosemide()
    assert patient.feed(oru(result("K", potassium, hours(10)), result("Mg", magnesium, hours(10)))) == []


def test_thresholds_come_from_the_rules_file(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = on_furosemide(RulesConfig(thresholds=Thresholds(potassium_low=3.0, magnesium_low=0.7)))
    assert patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.6, hours(10)))) == []


def test_same_severity_new_evidence_is_updated_and_lower_severity_too(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 2.9, hours(10)), result("Mg", 0.62, hours(10))))
    out = patient.feed(k(2.8, hours(12)))
    assert [(e.event, e.severity, e.revision) for e in out] == [(AlertEventKind.UPDATED, Severity.HIGH, 2)]
    out = patient.feed(k(3.2, hours(14)))
    assert [(e.event, e.severity, e.revision) for e in out] == [
        (AlertEventKind.UPDATED, Severity.MODERATE, 3)
    ]


def test_nothing_changes_nothing_is_emitted(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, adt: MakeAdt, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10))))
    assert patient.feed(adt("transfer", hours(11), unit="ICU")) == []


def test_alerts_carry_the_latest_location_and_a_late_event_does_not_overwrite_it(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, adt: MakeAdt, k: MakeLab, hours: Hours
) -> None:
    patient = on_furosemide()
    patient.feed(adt("transfer", hours(9), unit="ICU"))
    patient.feed(k(3.4, hours(8), location=Location(unit="ER")))
    out = patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10))))
    assert out[0].location is not None and out[0].location.unit == "ICU"
    assert out[0].encounter_id == "E1"
    assert out[0].rules_version == "2026.1"


def test_evidence_carries_the_value_as_sent(
    on_furosemide: MakeRun, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = on_furosemide()
    out = patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.48, hours(10), sent=(1.17, "mg/dL"))))
    magnesium = out[0].evidence.magnesium
    assert magnesium is not None
    assert magnesium.unit == "mmol/L"
    assert magnesium.as_sent is not None and (magnesium.as_sent.value, magnesium.as_sent.unit) == (
        1.17,
        "mg/dL",
    )
    assert magnesium.collected_at == hours(10)
