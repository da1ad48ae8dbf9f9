"""A patient's current state as people read it: latest K and Mg with times, active diuretics, open alerts."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

from alerts.models import DiureticEvidence, Evidence, LabEvidence, Location, RuleId, Severity
from alerts.rules import RECOMMENDATIONS, build_evidence, summary
from alerts.rulesfile import RulesConfig
from alerts.state import ANALYTE_K, ANALYTE_MG, PatientState, from_micros
from alerts.window import Snapshot, current_result, snapshot

__all__ = ["OpenAlertView", "PatientView", "describe"]

# "Latest ever kept", not "current in the rule's window": whoever reads the view judges staleness.
_ALL_TIME = 2**62


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)


class OpenAlertView(_Model):
    """An open alert of the patient with its text and evidence as they stand now."""

    alert_id: str
    revision: int
    rule: RuleId
    severity: Severity
    summary: str
    recommendation: str
    evidence: Evidence
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None


class PatientView(_Model):
    """The read model of GET /patients/{id}/state; `clock` is the patient's event time (latest event seen)."""

    patient_id: str
    known: bool
    rules_version: str
    clock: AwareDatetime | None = None
    encounter_id: str | None = None
    location: Location | None = None
    discharged: bool = False
    # The latest valid result kept of each analyte (evidence shape: mmol/L, as sent, collected_at, id).
    potassium: LabEvidence | None = None
    magnesium: LabEvidence | None = None
    # Potassium- and magnesium-wasting diuretic orders active within the diuretic lookback at `clock`.
    diuretics: tuple[DiureticEvidence, ...] = ()
    open_alerts: tuple[OpenAlertView, ...] = ()


def describe(patient_id: str, state: PatientState | None, rules: RulesConfig) -> PatientView:
    """The view of one patient's state (a patient never seen is `known=False` with nothing else)."""
    if state is None or state.clock is None:
        return PatientView(patient_id=patient_id, known=False, rules_version=rules.rules_version)
    t = state.clock
    snap = snapshot(state, t, rules)
    latest = Snapshot(
        t=t,
        potassium=current_result(state, ANALYTE_K, t, _ALL_TIME),
        magnesium=current_result(state, ANALYTE_MG, t, _ALL_TIME),
        diuretics=snap.diuretics,
        refractory=snap.refractory,
    )
    latest_evidence = build_evidence(latest)
    alerts = []
    for rule_value, alert in sorted(state.alerts.items()):
        rule = RuleId(rule_value)
        alerts.append(
            OpenAlertView(
                alert_id=alert.alert_id,
                revision=alert.revision,
                rule=rule,
                severity=Severity(alert.severity),
                summary=summary(rule, snap, rules),
                recommendation=RECOMMENDATIONS[rule],
                evidence=Evidence.model_validate(build_evidence(snap).model_dump()),
                acknowledged_by=alert.acknowledged_by,
                acknowledged_at=from_micros(alert.acknowledged_at) if alert.acknowledged_at else None,
            )
        )
    unit, room, bed = state.location if state.location is not None else (None, None, None)
    return PatientView(
        patient_id=patient_id,
        known=True,
        rules_version=rules.rules_version,
        clock=from_micros(t),
        encounter_id=state.encounter_id,
        location=Location(unit=unit, room=room, bed=bed) if state.location is not None else None,
        discharged=state.is_discharged,
        potassium=_validated(latest_evidence.potassium),
        magnesium=_validated(latest_evidence.magnesium),
        diuretics=tuple(DiureticEvidence.model_validate(d.model_dump()) for d in latest_evidence.diuretics),
        open_alerts=tuple(alerts),
    )


def _validated(lab: LabEvidence | None) -> LabEvidence | None:
    # build_evidence skips validation for speed in the engine; a view is read rarely, so check it here.
    return LabEvidence.model_validate(lab.model_dump()) if lab is not None else None
