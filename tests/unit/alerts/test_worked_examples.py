"""The worked examples of CLINICAL_RULES.md, one test each."""

from __future__ import annotations

from alerts.models import AlertEventKind, ResolveReason, RuleId, Severity
from tests.unit.alerts.conftest import Hours, MakeLab, MakeOrder, MakeOru, MakeResult, MakeRun


def test_worked_example_1_furosemide_k31_mg062_fires_moderate(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(8)))
    out = patient.feed(oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10))))
    assert [(e.event, e.rule, e.severity) for e in out] == [
        (AlertEventKind.FIRED, RuleId.KMG_COMBINED, Severity.MODERATE)
    ]
    fired = out[0]
    assert fired.revision == 1
    assert fired.summary == "K 3.1 mmol/L and Mg 0.62 mmol/L on furosemide (loop diuretic)"
    assert fired.recommendation == (
        "Replete magnesium together with potassium: hypokalemia may not correct until magnesium is repleted."
    )
    assert fired.evidence.potassium is not None and fired.evidence.potassium.value == 3.1
    assert fired.evidence.magnesium is not None and fired.evidence.magnesium.value == 0.62
    assert [(d.ingredient, d.drug_class.value) for d in fired.evidence.diuretics] == [("furosemide", "loop")]
    assert fired.evidence.refractory is False
    assert fired.event_time == hours(10)
    assert fired.emitted_at is None


def test_worked_example_2_then_mg048_escalates_to_critical(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, mg: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(
        order("furosemide", hours(8)), oru(result("K", 3.1, hours(10)), result("Mg", 0.62, hours(10)))
    )
    out = patient.feed(mg(0.48, hours(16)))
    assert [(e.event, e.severity, e.revision) for e in out] == [
        (AlertEventKind.ESCALATED, Severity.CRITICAL, 2)
    ]
    assert out[0].alert_id == patient.emitted[0].alert_id
    assert out[0].summary == "K 3.1 mmol/L and Mg 0.48 mmol/L on furosemide (loop diuretic)"


def test_worked_example_3_spironolactone_only_k30_mg05_nothing(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = run()
    out = patient.feed(
        order("spironolactone", hours(8)), oru(result("K", 3.0, hours(10)), result("Mg", 0.5, hours(10)))
    )
    assert out == []


def test_worked_example_4_hctz_k32_no_mg_check_mg_then_superseded(
    run: MakeRun, order: MakeOrder, k: MakeLab, mg: MakeLab, hours: Hours
) -> None:
    patient = run()
    out = patient.feed(order("hydrochlorothiazide", hours(8)), k(3.2, hours(10)))
    assert [(e.event, e.rule, e.severity) for e in out] == [
        (AlertEventKind.FIRED, RuleId.KMG_CHECK_MG, Severity.ADVISORY)
    ]
    assert out[0].recommendation == (
        "Measure serum magnesium: hypokalemia on a diuretic may be driven by magnesium depletion."
    )
    assert out[0].summary == (
        "K 3.2 mmol/L and no Mg in the last 72 h on hydrochlorothiazide (thiazide diuretic)"
    )
    out = patient.feed(mg(0.9, hours(12)))
    assert [(e.event, e.rule, e.reason) for e in out] == [
        (AlertEventKind.RESOLVED, RuleId.KMG_CHECK_MG, ResolveReason.SUPERSEDED)
    ]
    assert out[0].severity is Severity.ADVISORY


def test_worked_example_5_furosemide_stopped_25h_before_labs_nothing(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = run()
    out = patient.feed(
        order("furosemide", hours(0)),
        order("furosemide", hours(0), status="stopped", recorded_at=hours(9)),
        oru(result("K", 3.2, hours(24 + 10)), result("Mg", 0.6, hours(24 + 10))),
    )
    assert out == []


def test_worked_example_6_cancelled_k_resolves_retracted(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(8)))
    fired = patient.feed(oru(result("K", 3.1, hours(10), rid="R1"), result("Mg", 0.6, hours(10))))
    assert [e.event for e in fired] == [AlertEventKind.FIRED]
    out = patient.feed(k(None, hours(10), rid="R1", status="cancelled"))
    assert [(e.event, e.reason, e.alert_id, e.revision) for e in out] == [
        (AlertEventKind.RESOLVED, ResolveReason.RETRACTED, fired[0].alert_id, 2)
    ]
    assert out[0].evidence.potassium is None


def test_worked_example_7_kcl_then_persistent_low_k_is_refractory_high(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("bumetanide", hours(2)), order("potassium chloride", hours(6)))
    patient.feed(oru(result("K", 3.2, hours(11)), result("Mg", 0.65, hours(11))))
    patient.feed(k(3.3, hours(17)))
    last = patient.last
    assert last.rule is RuleId.KMG_COMBINED
    assert last.evidence.refractory is True
    assert last.severity is Severity.HIGH
    assert last.evidence.potassium is not None and last.evidence.potassium.value == 3.3
    assert last.summary.endswith(", refractory to potassium replacement")
