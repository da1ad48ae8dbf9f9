"""The clinical engine: (patient state, event) -> (new state, alert events), pure and deterministic."""

from __future__ import annotations

import hashlib
from datetime import datetime

from alerts.lifecycle import Acknowledge, Discharge, Transition, transition
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    AdtKind,
    AlertEvent,
    AlertEventKind,
    DrugClass,
    Evidence,
    LabResult,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    Severity,
)
from alerts.rules import RECOMMENDATIONS, RULE_ORDER, build_evidence, evaluate, summary
from alerts.rulesfile import RulesConfig
from alerts.state import (
    ANALYTE_K,
    ANALYTE_MG,
    PatientState,
    StoredOrder,
    StoredResult,
    from_micros,
    prune,
    to_micros,
)
from alerts.window import Snapshot, snapshot, wasting_diuretics

__all__ = ["PatientEventType", "apply", "discharge_expired", "event_time", "is_droppable"]

PatientEventType = LabResults | MedicationOrder | AdtEvent | Acknowledgement

# Within one evaluation: resolved, fired, escalated, updated; each group in rule-id order.
_GROUP = {
    AlertEventKind.RESOLVED: 0,
    AlertEventKind.FIRED: 1,
    AlertEventKind.ESCALATED: 2,
    AlertEventKind.UPDATED: 3,
    AlertEventKind.ACKNOWLEDGED: 4,
}
_RULE_RANK = {rule: i for i, rule in enumerate(RULE_ORDER)}
_ENDS_WITH_RECORDED_AT = (OrderStatus.COMPLETED, OrderStatus.STOPPED, OrderStatus.ON_HOLD)


def event_time(event: PatientEventType) -> datetime | None:
    """The event time that moves the patient clock; None for an acknowledgement (it never moves it)."""
    if isinstance(event, LabResults):
        return max(r.collected_at for r in event.results)
    if isinstance(event, MedicationOrder):
        return event.recorded_at
    if isinstance(event, AdtEvent):
        return event.occurred_at
    return None


def is_droppable(state: PatientState, watermark: datetime, rules: RulesConfig) -> bool:
    """True once the patient is discharged and the watermark is `discharge_reset` (24 h) past the discharge.

    The next event for a dropped patient would have started from an empty state anyway.
    """
    return discharge_expired(state.discharged_at, watermark, rules)


def discharge_expired(discharged_at: int | None, watermark: datetime, rules: RulesConfig) -> bool:
    """`is_droppable` from the discharge time alone (microseconds; None: not discharged)."""
    return discharged_at is not None and to_micros(watermark) >= discharged_at + rules.limits.discharge_reset


# --- storing one event --------------------------------------------------------------------------


def _set_context(state: PatientState, et: int, location: Location | None, encounter_id: str | None) -> bool:
    """Location and encounter follow the newest event by event time (ties: later arrival)."""
    if location is None and encounter_id is None:
        return False
    if state.context_time is not None and et < state.context_time:
        return False
    changed = False
    if location is not None:
        loc = (location.unit, location.room, location.bed)
        if loc != state.location:
            state.location, changed = loc, True
    if encounter_id is not None and encounter_id != state.encounter_id:
        state.encounter_id, changed = encounter_id, True
    if et != state.context_time:
        state.context_time, changed = et, True
    return changed


def result_digest(result: LabResult) -> str:
    """A fingerprint of every field of one result message: equal only for an identical re-delivery."""
    loc = result.location
    fields = (
        result.result_id,
        result.patient_id,
        result.encounter_id,
        result.analyte.value,
        result.code,
        result.status.value,
        result.value,
        result.sent_value,
        result.sent_unit,
        to_micros(result.collected_at),
        result.collected_at.utcoffset(),
        None if result.resulted_at is None else result.resulted_at.isoformat(),
        None if loc is None else (loc.unit, loc.room, loc.bed),
    )
    return hashlib.blake2b(repr(fields).encode(), digest_size=8).hexdigest()


def _store_labs(state: PatientState, event: LabResults, et: int) -> bool:
    changed = False
    location: Location | None = None
    encounter: str | None = None
    for r in event.results:
        valid = r.status.is_valid and r.value is not None
        state.seq += 1
        new = StoredResult(
            analyte=ANALYTE_K if r.analyte.value == "potassium" else ANALYTE_MG,
            valid=valid,
            # A cancelled result no longer exists: keep only what identifies it.
            value=r.value if valid else None,
            sent_value=r.sent_value if valid else None,
            sent_unit=r.sent_unit if valid else None,
            collected_at=to_micros(r.collected_at),
            seq=state.seq,
            digest=result_digest(r),
        )
        old = state.results.get(r.result_id)
        if old is None or not old.same_content(new):
            state.results[r.result_id] = new
            changed = True
        location = location or r.location
        encounter = encounter or r.encounter_id
    return _set_context(state, et, location, encounter) or changed


def _order_record(event: MedicationOrder, recorded_at: int) -> StoredOrder:
    if event.status in (OrderStatus.CANCELLED, OrderStatus.ENTERED_IN_ERROR):
        return StoredOrder(recorded_at)
    wasting = tuple(
        (i.name, i.drug_class.value) for i in event.ingredients if i.drug_class.wastes_potassium_and_magnesium
    )
    replacement = any(i.drug_class is DrugClass.POTASSIUM_REPLACEMENT for i in event.ingredients)
    if not wasting and not replacement:
        return StoredOrder(recorded_at)
    end = to_micros(event.end) if event.end is not None else None
    if end is None and event.status in _ENDS_WITH_RECORDED_AT:
        end = recorded_at
    return StoredOrder(recorded_at, to_micros(event.start), end, wasting, replacement)


def _store_order(state: PatientState, event: MedicationOrder, et: int) -> bool:
    old = state.orders.get(event.order_id)
    if old is not None and et < old.recorded_at:
        return False  # an older event of the order, arriving late: the latest event stays its truth
    new = _order_record(event, et)
    changed = new != old
    if changed:
        state.orders[event.order_id] = new
    return _set_context(state, et, None, event.encounter_id) or changed


def _store_adt(state: PatientState, event: AdtEvent, et: int) -> tuple[bool, bool]:
    """Returns (changed, discharges_now)."""
    changed = False
    if event.event is AdtKind.DISCHARGE:
        if state.admitted_at is not None and et < state.admitted_at:
            # From before the latest admission (or the start of a visit begun by the 24 h rule): it belongs
            # to a visit that has ended; so an identical re-delivery of the old discharge changes nothing.
            return False, False
        if state.discharged_at is None:
            state.discharged_at = et
            return True, True
        if et > state.discharged_at:
            state.discharged_at, changed = et, True
        return changed, False
    if event.event is AdtKind.ADMIT:
        if state.admitted_at is None or et > state.admitted_at:
            state.admitted_at, changed = et, True
        # Strictly after: at a tie the discharge stands, so that a re-delivered discharge cannot end the
        # visit an admit at the same instant began, nor the admit a discharge that came after it.
        if state.discharged_at is not None and et > state.discharged_at:
            state.discharged_at, changed = None, True
    return _set_context(state, et, event.location, event.encounter_id) or changed, False


# --- emitting -----------------------------------------------------------------------------------


def _alert_event(
    tr: Transition,
    state: PatientState,
    snap: Snapshot,
    evidence: Evidence,
    patient_id: str,
    rules: RulesConfig,
) -> AlertEvent:
    loc = state.location
    assert state.clock is not None
    # Built from the engine's own state: construct without re-validating (see rules.build_evidence).
    return AlertEvent.model_construct(
        alert_id=tr.alert.alert_id,
        revision=tr.alert.revision,
        event=tr.kind,
        rule=tr.rule,
        rules_version=rules.rules_version,
        severity=Severity(tr.alert.severity),
        patient_id=patient_id,
        encounter_id=state.encounter_id,
        location=Location.model_construct(unit=loc[0], room=loc[1], bed=loc[2]) if loc is not None else None,
        summary=summary(tr.rule, snap, rules),
        recommendation=RECOMMENDATIONS[tr.rule],
        evidence=evidence,
        reason=tr.reason,
        acknowledged_by=tr.alert.acknowledged_by,
        event_time=from_micros(state.clock),
    )


def _commit(
    state: PatientState, transitions: list[Transition], patient_id: str, rules: RulesConfig
) -> list[AlertEvent]:
    if not transitions:
        return []
    assert state.clock is not None
    transitions.sort(key=lambda tr: (_GROUP[tr.kind], _RULE_RANK[tr.rule]))
    snap = snapshot(state, state.clock, rules)
    evidence = build_evidence(snap)
    out = []
    for tr in transitions:
        if tr.still_open:
            state.alerts[tr.rule.value] = tr.alert
        else:
            state.alerts.pop(tr.rule.value, None)
        if tr.kind is AlertEventKind.FIRED:
            state.used_alert_ids.append(tr.alert.alert_id)
        out.append(_alert_event(tr, state, snap, evidence, patient_id, rules))
    return out


def _evaluate(state: PatientState, patient_id: str, rules: RulesConfig) -> list[Transition]:
    assert state.clock is not None
    # Nothing open and no wasting diuretic, so nothing can fire: the common case, decided before the rest of
    # the snapshot (the current K and Mg, refractoriness) is worked out.
    if not state.alerts and not wasting_diuretics(state, state.clock, rules):
        return []
    snap = snapshot(state, state.clock, rules)
    if not state.alerts and snap.potassium is None:
        return []
    invalid = {rid for rid, r in state.results.items() if not r.valid}
    transitions = []
    for rule in RULE_ORDER:
        current = state.alerts.get(rule.value)
        enabled = rules.is_enabled(rule)
        if current is None and not enabled:
            continue
        tr = transition(
            rule,
            current,
            evaluate(rule, snap, rules),
            patient_id=patient_id,
            used_alert_ids=state.used_alert_ids,
            invalid_results=invalid,
            may_fire=enabled,
        )
        if tr is not None:
            transitions.append(tr)
    return transitions


def _acknowledge(
    state: PatientState | None, ack: Acknowledgement, rules: RulesConfig
) -> tuple[PatientState, list[AlertEvent]]:
    if state is None:
        return PatientState(), []
    for rule in RULE_ORDER:
        current = state.alerts.get(rule.value)
        if current is None or current.alert_id != ack.alert_id:
            continue
        tr = transition(
            rule, current, Acknowledge(by=ack.by, at=to_micros(ack.at)), patient_id=ack.patient_id
        )
        if tr is None:
            break
        new = state.copy()
        return new, _commit(new, [tr], ack.patient_id, rules)
    # Unknown or resolved alert, or a repeated ack: nothing changes (and the clock does not move).
    return state, []


def apply(
    state: PatientState | None,
    event: PatientEventType,
    rules: RulesConfig,
    *,
    pruning: bool = True,
) -> tuple[PatientState, list[AlertEvent]]:
    """Apply one event to a patient's state; return the new state and the alert events, in emission order.

    `state` is not modified (None = a patient never seen). `emitted_at` is left None for the caller to
    stamp. `pruning=False` keeps everything (only for tests proving that pruning changes nothing).
    """
    if isinstance(event, Acknowledgement):
        return _acknowledge(state, event, rules)
    when = event_time(event)
    assert when is not None
    et = to_micros(when)
    new = state.copy() if state is not None else PatientState()
    if new.discharged_at is not None and et >= new.discharged_at + rules.limits.discharge_reset:
        # A new visit: nothing of the old one carries over. It began, at the latest, when the 24 h ran out;
        # a discharge dated before that belongs to the old visit (an identical re-delivery included).
        new = PatientState(admitted_at=new.discharged_at + rules.limits.discharge_reset)
    discharges_now = False
    if isinstance(event, LabResults):
        changed = _store_labs(new, event, et)
    elif isinstance(event, MedicationOrder):
        changed = _store_order(new, event, et)
    else:
        changed, discharges_now = _store_adt(new, event, et)
        # ADT events always count: one beyond the clock moves it even without location or encounter.
        changed = changed or new.clock is None or et > new.clock
    if not changed:
        return (state if state is not None else new), []
    if new.clock is None or et > new.clock:
        new.clock = et
    if discharges_now:
        transitions = [
            tr
            for rule in RULE_ORDER
            if (tr := transition(rule, new.alerts.get(rule.value), Discharge(), patient_id=event.patient_id))
        ]
    elif new.is_discharged:
        transitions = []  # while discharged, events are stored but no rule runs
    else:
        transitions = _evaluate(new, event.patient_id, rules)
    out = _commit(new, transitions, event.patient_id, rules)
    if pruning:
        prune(new, rules)
    return new, out
