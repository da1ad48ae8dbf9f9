"""Patient state: the byte encoding round trip, its size, and that pruning never changes behaviour."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.engine import PatientEventType, apply
from alerts.lifecycle import alert_id_for
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    AdtKind,
    Analyte,
    Ingredient,
    LabResult,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    ResultStatus,
    RuleId,
)
from alerts.rulesfile import RulesConfig
from alerts.state import EvidenceKey, PatientState, decode_state, encode_state
from tests.unit.alerts.conftest import (
    DAY1,
    DRUGS,
    PATIENT,
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


def test_encode_decode_round_trip_keeps_everything(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, ack: MakeAck, adt: MakeAdt, hours: Hours
) -> None:
    patient = run(pruning=False)
    patient.feed(
        adt("admit", hours(1)),
        order("furosemide", hours(0)),
        order("potassium chloride", hours(6), end=hours(8), status="completed"),
        order("spironolactone", hours(2), status="cancelled"),
        oru(result("K", 3.2, hours(11)), result("Mg", 0.48, hours(11), sent=(1.17, "mg/dL"))),
        result_cancel := oru(result("K", None, hours(9), rid="gone", status="cancelled")),
    )
    patient.feed(ack(patient.last.alert_id, at=hours(12)))
    state = patient.state
    assert state is not None and result_cancel
    decoded = decode_state(encode_state(state))
    assert decoded == state
    assert encode_state(decoded) == encode_state(state)


def test_a_typical_patient_encodes_well_under_2kb(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, k: MakeLab, adt: MakeAdt, hours: Hours
) -> None:
    patient = run()
    patient.feed(adt("admit", hours(0)), order("furosemide", hours(0)), order("potassium chloride", hours(6)))
    for day in range(3):
        patient.feed(oru(result("K", 3.2, hours(24 * day + 6)), result("Mg", 0.65, hours(24 * day + 6))))
        patient.feed(k(3.3, hours(24 * day + 18)))
    assert patient.state is not None and patient.state.alerts
    assert len(encode_state(patient.current)) < 1024


def test_pruning_keeps_a_long_stay_small(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = run()
    patient.feed(order("furosemide", hours(0)))
    for h in range(0, 24 * 30, 6):
        patient.feed(oru(result("K", 3.6, hours(h)), result("Mg", 0.8, hours(h))))
    assert patient.state is not None
    assert len(patient.state.results) <= 2 * (72 // 6 + 1)
    assert len(encode_state(patient.current)) < 2048


def test_decode_refuses_what_is_not_a_state() -> None:
    with pytest.raises(ValueError, match="not a patient state"):
        decode_state(b'{"v": 99}')
    with pytest.raises(ValueError):
        decode_state(b"not json")


def test_empty_state_round_trips() -> None:
    assert decode_state(encode_state(PatientState())) == PatientState()


# --- pruning changes nothing: random event sequences, with and without it --------------------------

_K_IDS = ["K1", "K2", "K3", "K4", "K5"]
_MG_IDS = ["M1", "M2", "M3"]


def _at(h: int) -> datetime:
    return DAY1 + timedelta(hours=h)


_ALERT_IDS = [alert_id_for(PATIENT, rule, rid) for rule in RuleId for rid in _K_IDS]
_K_VALUES = [2.4, 2.5, 2.9, 3.0, 3.1, 3.2, 3.4, 3.5, 4.0]
_MG_VALUES = [0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.9]
# Weighted towards what makes alerts happen, so that most sequences open, change and close some.
_RESULT_STATUSES = [ResultStatus.FINAL] * 5 + list(ResultStatus)
_ORDER_STATUSES = [OrderStatus.ACTIVE] * 5 + list(OrderStatus)
_ORDER_DRUGS = ["furosemide", "furosemide", "hydrochlorothiazide", "potassium chloride", *sorted(DRUGS)]
_ADT_KINDS = [AdtKind.TRANSFER, AdtKind.TRANSFER, AdtKind.ADMIT, AdtKind.DISCHARGE]
# Times in whole hours, walking forward (sometimes back: late events) so that window boundaries
# (4/24/48/72 h) are hit exactly and often.
_STEPS = [0, 0, 1, 2, 4, 4, 6, 12, 20, 24, 44, 48, 72, -2, -6]


@st.composite
def _lab(draw: st.DrawFn, h: int) -> LabResult:
    potassium = draw(st.booleans())
    status = draw(st.sampled_from(_RESULT_STATUSES))
    values = _K_VALUES if potassium else _MG_VALUES
    return LabResult(
        result_id=draw(st.sampled_from(_K_IDS if potassium else _MG_IDS)),
        patient_id=PATIENT,
        analyte=Analyte.POTASSIUM if potassium else Analyte.MAGNESIUM,
        code="x",
        status=status,
        value=draw(st.sampled_from(values)) if status.is_valid else None,
        collected_at=_at(h - draw(st.sampled_from([0, 0, 0, 4, 24]))),
        location=draw(st.sampled_from([None, Location(unit="4W"), Location(unit="ICU")])),
    )


@st.composite
def _event(draw: st.DrawFn, h: int) -> PatientEventType:
    kind = draw(st.sampled_from(["labs"] * 5 + ["order"] * 3 + ["adt", "ack"]))
    if kind == "labs":
        return LabResults(patient_id=PATIENT, results=tuple(draw(st.lists(_lab(h), min_size=1, max_size=3))))
    if kind == "order":
        drug = draw(st.sampled_from(_ORDER_DRUGS))
        start = h - draw(st.sampled_from([0, 2, 4, 6, 24, 48, -2]))
        end = draw(st.sampled_from([None, None, start - 1, start + 4, start + 24, h, h + 24]))
        return MedicationOrder(
            order_id=draw(st.sampled_from(["O1", "O2", "O3"])),
            patient_id=PATIENT,
            display=drug,
            ingredients=tuple(Ingredient(name=drug, drug_class=c) for c in DRUGS[drug]),
            status=draw(st.sampled_from(_ORDER_STATUSES)),
            start=_at(start),
            end=_at(end) if end is not None else None,
            recorded_at=_at(h - draw(st.sampled_from([0, 0, 1, 24]))),
        )
    if kind == "adt":
        return AdtEvent(
            patient_id=PATIENT,
            event=draw(st.sampled_from(_ADT_KINDS)),
            location=Location(unit=draw(st.sampled_from(["4W", "ICU"]))),
            occurred_at=_at(h),
        )
    return Acknowledgement(
        alert_id=draw(st.sampled_from(_ALERT_IDS)),
        patient_id=PATIENT,
        by=draw(st.sampled_from(["a", "b"])),
        at=_at(h),
    )


@st.composite
def _events(draw: st.DrawFn, max_size: int) -> list[PatientEventType]:
    h = 0
    events = []
    for _ in range(draw(st.integers(min_value=1, max_value=max_size))):
        h += draw(st.sampled_from(_STEPS))
        events.append(draw(_event(h)))
    return events


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_events(60))
def test_pruning_never_changes_the_alert_events(events: list[PatientEventType]) -> None:
    rules = RulesConfig()
    pruned, kept = Run(rules=rules, pruning=True), Run(rules=rules, pruning=False)
    for event in events:
        assert pruned.feed(event) == kept.feed(event)


@settings(max_examples=100, deadline=None)
@given(_events(30))
def test_the_byte_round_trip_never_changes_the_alert_events(events: list[PatientEventType]) -> None:
    rules = RulesConfig()
    state: PatientState | None = None
    direct = []
    for event in events:
        state, out = apply(state, event, rules)
        direct.extend(out)
    via_bytes = Run(rules=rules)
    via_bytes.feed(*events)
    assert via_bytes.emitted == direct


def test_an_old_event_of_a_pruned_order_cannot_revive_it(
    run: MakeRun, order: MakeOrder, result: MakeResult, oru: MakeOru, hours: Hours
) -> None:
    patient = run()
    patient.feed(
        order("furosemide", hours(0)),
        order("furosemide", hours(0), end=hours(10), status="stopped", recorded_at=hours(10)),
        oru(result("K", 3.8, hours(40)), result("Mg", 0.8, hours(40))),
    )
    assert patient.state is not None and patient.state.orders["O-furosemide"].is_tombstone
    patient.feed(order("furosemide", hours(0)))  # the first, "active" event delivered again, late
    assert patient.feed(oru(result("K", 3.1, hours(41)), result("Mg", 0.6, hours(41)))) == []


# A state a worker wrote before OpenAlert held its evidence as one EvidenceKey (STATE_FORMAT 1): stored
# RocksDB values and changelog records of a running deployment must still decode, and re-encode unchanged.
STORED_BEFORE_EVIDENCE_KEY = (
    b'{"v":1,"c":1700000000000000,"s":3,"a":{"KMG_COMBINED":["kmg-abc",2,"high","R1",2.9,"R2",0.55,'
    b'["O1","O2"],1,"nurse",1700000000000001,"high"],"KMG_CHECK_MG":["kmg-def",1,"advisory","R3",3.1,'
    b'null,null,["O1"],0,null,null,null]},"u":["kmg-abc","kmg-def"]}'
)


def test_a_stored_state_of_format_1_still_decodes_and_reencodes_byte_for_byte() -> None:
    state = decode_state(STORED_BEFORE_EVIDENCE_KEY)
    combined = state.alerts["KMG_COMBINED"]
    assert combined.evidence == EvidenceKey("R1", 2.9, "R2", 0.55, ("O1", "O2"), True)
    assert (combined.alert_id, combined.revision, combined.acknowledged_by) == ("kmg-abc", 2, "nurse")
    assert state.alerts["KMG_CHECK_MG"].evidence == EvidenceKey("R3", 3.1, None, None, ("O1",), False)
    assert encode_state(state) == STORED_BEFORE_EVIDENCE_KEY
