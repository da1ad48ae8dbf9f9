"""Engine behaviour around orders, admission/discharge, acknowledgements and alert identity."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerts.engine import apply, is_droppable
from alerts.lifecycle import alert_id_for
from alerts.models import AlertEvent, AlertEventKind, LabResults, ResolveReason, RuleId, Severity
from alerts.rulesfile import RulesConfig
from alerts.state import encode_state
from tests.unit.alerts.conftest import (
    Hours,
    MakeAck,
    MakeAdt,
    MakeLab,
    MakeOrder,
    MakeOru,
    MakeResult,
    MakeRun,
    Run,
)

US = timedelta(microseconds=1)


@pytest.fixture
def low_pair(result: MakeResult, oru: MakeOru) -> MakeLab:
    """low_pair(at): one message, K 3.1 and Mg 0.62 collected at `at` (moderate when on a diuretic)."""

    def make(at: datetime, rid: str = "R1", potassium: float = 3.1, magnesium: float = 0.62) -> LabResults:
        return oru(result("K", potassium, at, rid=rid), result("Mg", magnesium, at, rid=f"{rid}-mg"))

    return make


# --- orders ---------------------------------------------------------------------------------------


def test_diuretic_stopped_exactly_24h_before_the_labs_no_longer_counts(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    stopped = order("furosemide", hours(0), end=hours(9), status="stopped", recorded_at=hours(9))
    assert run().feed(stopped, low_pair(hours(24 + 9))) == []
    assert [e.event for e in run().feed(stopped, low_pair(hours(24 + 9) - US))] == [AlertEventKind.FIRED]


def test_stopped_order_without_end_ends_at_its_recorded_at(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))
    out = patient.feed(order("furosemide", hours(0), status="stopped", recorded_at=hours(11)))
    assert out == []  # still inside the lookback
    diuretic = patient.current.orders["O-furosemide"]
    assert diuretic.end is not None
    out = patient.feed(low_pair(hours(11 + 24), rid="R2"))
    assert [(e.event, e.reason) for e in out] == [(AlertEventKind.RESOLVED, ResolveReason.DIURETIC_STOPPED)]


def test_on_hold_order_without_end_ends_at_its_recorded_at(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(
        order("furosemide", hours(0)), order("furosemide", hours(0), status="on-hold", recorded_at=hours(2))
    )
    assert patient.feed(low_pair(hours(27))) == []
    assert [e.event for e in run().feed(order("furosemide", hours(0)), low_pair(hours(27)))] == [
        AlertEventKind.FIRED
    ]


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error"])
def test_cancelled_or_erroneous_order_never_existed(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours, status: str
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))
    out = patient.feed(order("furosemide", hours(0), status=status, recorded_at=hours(11)))
    assert [(e.event, e.reason) for e in out] == [(AlertEventKind.RESOLVED, ResolveReason.DIURETIC_STOPPED)]
    assert out[0].evidence.diuretics == ()
    assert patient.feed(low_pair(hours(12), rid="R2")) == []


def test_the_latest_order_event_by_recorded_at_is_its_truth_even_if_it_arrived_first(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0), status="cancelled", recorded_at=hours(3)))
    patient.feed(order("furosemide", hours(0), recorded_at=hours(1)))  # the older "active" event, late
    assert patient.feed(low_pair(hours(10))) == []


def test_order_starting_in_the_future_is_not_yet_active(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(12), recorded_at=hours(9)))
    assert patient.feed(low_pair(hours(10))) == []
    assert [e.event for e in patient.feed(k(3.2, hours(13)))] == [AlertEventKind.FIRED]


def test_combination_product_counts_as_every_class_it_contains(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    out = run().feed(order(["triamterene", "hydrochlorothiazide"], hours(0)), low_pair(hours(10)))
    assert [e.event for e in out] == [AlertEventKind.FIRED]
    assert [(d.ingredient, d.drug_class.value) for d in out[0].evidence.diuretics] == [
        ("hydrochlorothiazide", "thiazide")
    ]


def test_carbonic_anhydrase_inhibitor_wastes(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    out = run().feed(order("acetazolamide", hours(0)), low_pair(hours(10)))
    assert out[0].summary == "K 3.1 mmol/L and Mg 0.62 mmol/L on acetazolamide (carbonic anhydrase inhibitor)"


def test_a_new_contributing_order_is_an_update_but_a_new_end_time_is_not(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))
    assert patient.feed(order("furosemide", hours(0), end=hours(40), recorded_at=hours(11))) == []
    out = patient.feed(order("hydrochlorothiazide", hours(12)))
    assert [e.event for e in out] == [AlertEventKind.UPDATED]
    assert out[0].summary == (
        "K 3.1 mmol/L and Mg 0.62 mmol/L"
        " on furosemide (loop diuretic) and hydrochlorothiazide (thiazide diuretic)"
    )
    assert out[0].evidence.diuretics[0].end == hours(40)


def test_refractory_raises_check_mg_to_moderate(
    run: MakeRun, order: MakeOrder, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), order("potassium chloride", hours(6)))
    out = patient.feed(k(3.2, hours(11)))
    assert [(e.rule, e.severity, e.evidence.refractory) for e in out] == [
        (RuleId.KMG_CHECK_MG, Severity.MODERATE, True)
    ]


def test_refractory_needs_a_k_after_the_recheck_time_and_all_of_them_low(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), order("potassium chloride", hours(6)))
    out = patient.feed(oru(result("K", 3.2, hours(10)), result("Mg", 0.65, hours(10))))  # exactly s + 4h
    assert [(e.severity, e.evidence.refractory) for e in out] == [(Severity.MODERATE, False)]
    out = patient.feed(k(3.3, hours(12)))
    assert [(e.event, e.severity, e.evidence.refractory) for e in out] == [
        (AlertEventKind.ESCALATED, Severity.HIGH, True)
    ]
    out = patient.feed(k(3.6, hours(13), rid="normal"), k(3.3, hours(14)))
    assert out[0].event is AlertEventKind.RESOLVED
    assert [(e.event, e.evidence.refractory, e.severity) for e in out[1:]] == [
        (AlertEventKind.FIRED, False, Severity.MODERATE)
    ]


def test_refractory_stops_once_the_replacement_is_older_than_48h(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), order("potassium chloride", hours(6)))
    patient.feed(oru(result("K", 3.2, hours(11)), result("Mg", 0.65, hours(11))))
    assert patient.last.evidence.refractory is True
    out = patient.feed(k(3.2, hours(6 + 48) + US))
    assert [(e.event, e.severity, e.evidence.refractory) for e in out] == [
        (AlertEventKind.UPDATED, Severity.MODERATE, False)
    ]


# --- discharge and admission ----------------------------------------------------------------------


def test_discharge_resolves_every_open_alert(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, adt: MakeAdt, hours: Hours
) -> None:
    patient = run()
    fired = patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))
    out = patient.feed(adt("discharge", hours(12)))
    assert [(e.event, e.reason, e.alert_id, e.severity) for e in out] == [
        (AlertEventKind.RESOLVED, ResolveReason.DISCHARGED, fired[0].alert_id, Severity.MODERATE)
    ]
    assert out[0].event_time == hours(12)


def test_while_discharged_no_rule_runs_and_admit_ends_that(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, adt: MakeAdt, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    first = patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))
    patient.feed(adt("discharge", hours(12)))
    assert patient.feed(k(2.4, hours(13))) == []
    out = patient.feed(adt("admit", hours(14), unit="ICU"))
    assert [(e.event, e.severity) for e in out] == [(AlertEventKind.FIRED, Severity.CRITICAL)]
    assert out[0].alert_id != first[0].alert_id
    assert out[0].location is not None and out[0].location.unit == "ICU"


def test_an_admit_older_than_the_discharge_does_not_end_it(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, adt: MakeAdt, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), low_pair(hours(10)), adt("discharge", hours(12)))
    patient.feed(adt("admit", hours(1)))
    assert patient.feed(k(2.4, hours(13))) == []


def test_an_event_24h_after_discharge_starts_a_new_visit_from_empty_state(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, adt: MakeAdt, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)), low_pair(hours(10)), adt("discharge", hours(12)))
    assert patient.feed(low_pair(hours(12 + 24) - US, rid="R2")) == []
    assert patient.state is not None and patient.state.is_discharged
    assert patient.feed(low_pair(hours(12 + 24), rid="R3")) == []  # furosemide belonged to the old visit
    assert patient.state is not None and not patient.state.is_discharged
    assert set(patient.state.results) == {"R3", "R3-mg"}
    assert patient.state.orders == {}


def test_is_droppable_only_when_discharged_and_watermark_24h_past(
    run: MakeRun, order: MakeOrder, adt: MakeAdt, hours: Hours
) -> None:
    rules = RulesConfig()
    patient = run()
    patient.feed(order("furosemide", hours(0)))
    assert patient.state is not None and not is_droppable(patient.state, hours(100), rules)
    patient.feed(adt("discharge", hours(12)))
    assert not is_droppable(patient.state, hours(12 + 24) - US, rules)
    assert is_droppable(patient.state, hours(12 + 24), rules)


# --- acknowledgements ------------------------------------------------------------------------------


def test_ack_of_an_open_alert_emits_acknowledged_with_current_severity(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, ack: MakeAck, hours: Hours
) -> None:
    patient = run()
    fired = patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))[0]
    out = patient.feed(ack(fired.alert_id, by="nurse1", at=hours(30)))
    assert [(e.event, e.revision, e.severity, e.acknowledged_by) for e in out] == [
        (AlertEventKind.ACKNOWLEDGED, 2, Severity.MODERATE, "nurse1")
    ]
    assert out[0].event_time == hours(10)  # an ack does not move the patient clock
    assert patient.state is not None and patient.state.clock is not None


def test_unknown_duplicate_and_resolved_acks_change_nothing(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, ack: MakeAck, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    fired = patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))[0]
    assert patient.feed(ack("kmg-000000000000000000000000")) == []
    patient.feed(ack(fired.alert_id, at=hours(11)))
    before = encode_state(patient.current)
    assert patient.feed(ack(fired.alert_id, at=hours(11))) == []
    assert encode_state(patient.current) == before
    patient.feed(k(3.9, hours(12)))
    assert patient.last.event is AlertEventKind.RESOLVED
    assert patient.feed(ack(fired.alert_id, by="doctor2", at=hours(13))) == []


def test_escalation_after_an_ack_still_emits_and_remembers_who_acknowledged(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, ack: MakeAck, mg: MakeLab, hours: Hours
) -> None:
    patient = run()
    fired = patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))[0]
    patient.feed(ack(fired.alert_id, by="nurse1", at=hours(11)))
    out = patient.feed(mg(0.45, hours(12)))
    assert [(e.event, e.revision, e.severity, e.acknowledged_by) for e in out] == [
        (AlertEventKind.ESCALATED, 3, Severity.CRITICAL, "nurse1")
    ]
    again = patient.feed(ack(fired.alert_id, by="nurse1", at=hours(13)))
    assert [(e.event, e.severity) for e in again] == [(AlertEventKind.ACKNOWLEDGED, Severity.CRITICAL)]


def test_ack_for_a_patient_never_seen_is_harmless(ack: MakeAck) -> None:
    state, out = apply(None, ack("kmg-000000000000000000000000"), RulesConfig())
    assert out == [] and state.alerts == {}


# --- identity ------------------------------------------------------------------------------------


def test_alert_id_is_a_stable_hash_of_patient_rule_and_opening_k(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, k: MakeLab, hours: Hours
) -> None:
    patient = run()
    fired = patient.feed(order("furosemide", hours(0)), low_pair(hours(10), rid="R1"))[0]
    assert fired.alert_id == alert_id_for("MRN0001", RuleId.KMG_COMBINED, "R1")
    assert fired.alert_id.startswith("kmg-") and len(fired.alert_id) == 4 + 24
    assert alert_id_for("MRN0001", RuleId.KMG_COMBINED, "R1") != alert_id_for(
        "MRN0002", RuleId.KMG_COMBINED, "R1"
    )
    assert alert_id_for("MRN0001", RuleId.KMG_COMBINED, "R1") != alert_id_for(
        "MRN0001", RuleId.KMG_CHECK_MG, "R1"
    )
    # A later K keeps the episode's id.
    assert patient.feed(k(3.0, hours(12)))[0].alert_id == fired.alert_id


def test_a_new_episode_opened_by_the_same_k_gets_a_new_id(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    patient = run()
    fired = patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))[0]
    patient.feed(order("furosemide", hours(0), status="cancelled", recorded_at=hours(11)))
    again = patient.feed(order("bumetanide", hours(12)))
    assert [(e.event, e.revision) for e in again] == [(AlertEventKind.FIRED, 1)]
    assert again[0].alert_id != fired.alert_id


def test_replaying_the_same_input_gives_identical_alert_events(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, mg: MakeLab, ack: MakeAck, adt: MakeAdt, hours: Hours
) -> None:
    def script(patient: Run) -> list[AlertEvent]:
        patient.feed(order("furosemide", hours(0)), low_pair(hours(10)))
        patient.feed(
            ack(patient.last.alert_id, at=hours(11)), mg(0.45, hours(12)), adt("discharge", hours(20))
        )
        return patient.emitted

    first, second = script(run()), script(run())
    assert len(first) == 4
    assert first == second


def test_a_disabled_rule_opens_nothing(run: MakeRun, order: MakeOrder, k: MakeLab, hours: Hours) -> None:
    patient = run(RulesConfig(enabled_rules=(RuleId.KMG_COMBINED,)))
    assert patient.feed(order("furosemide", hours(0)), k(3.1, hours(10))) == []


def test_apply_does_not_modify_the_state_it_is_given(
    run: MakeRun, order: MakeOrder, low_pair: MakeLab, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)))
    assert patient.state is not None
    before = encode_state(patient.current)
    apply(patient.state, low_pair(hours(10)), RulesConfig())
    assert encode_state(patient.current) == before
