"""The alert lifecycle: one transition function with named branches, and deterministic alert ids."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from alerts.models import AlertEventKind, ResolveReason, RuleId, Severity
from alerts.rules import EvidenceKey, RuleEvaluation
from alerts.state import OpenAlert

__all__ = [
    "ALERT_ID_PREFIX",
    "Acknowledge",
    "Discharge",
    "Transition",
    "Trigger",
    "alert_id_for",
    "transition",
]

ALERT_ID_PREFIX = "kmg-"


def alert_id_for(patient_id: str, rule: RuleId, potassium_result_id: str, used: Collection[str] = ()) -> str:
    """sha256 of patient, rule and the K result that opened the episode: "kmg-" + 24 hex characters.

    If that id was already used in this visit (the same K result opening a second episode, e.g. after a
    diuretic restarts), a counter joins the hash so that the new episode still gets a new, stable id.
    """
    n = 0
    while True:
        parts = [patient_id, rule.value, potassium_result_id] + ([str(n)] if n else [])
        digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
        candidate = ALERT_ID_PREFIX + digest[:24]
        if candidate not in used:
            return candidate
        n += 1


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Someone acknowledged the alert (`at` in microseconds, as the ack carried it)."""

    by: str
    at: int


@dataclass(frozen=True, slots=True)
class Discharge:
    """The patient was discharged: every open alert resolves."""


Trigger = RuleEvaluation | Acknowledge | Discharge


@dataclass(frozen=True, slots=True)
class Transition:
    """One lifecycle step: what to emit, and the alert record after it (None once resolved)."""

    rule: RuleId
    kind: AlertEventKind
    reason: ResolveReason | None
    # The alert as emitted: its id, new revision, severity and acknowledgement.
    alert: OpenAlert
    still_open: bool


def _with_evidence(alert: OpenAlert, key: EvidenceKey, severity: Severity) -> OpenAlert:
    return alert._replace(
        revision=alert.revision + 1,
        severity=severity.value,
        evidence=key,
        # At a new severity everyone may acknowledge again.
        acked_now=alert.acked_now if severity.value == alert.severity else (),
    )


# --- the branches -------------------------------------------------------------------------------


def _fire(rule: RuleId, ev: RuleEvaluation, patient_id: str, used: Collection[str]) -> Transition:
    assert ev.severity is not None and ev.key.potassium_id is not None
    alert = OpenAlert(
        alert_id=alert_id_for(patient_id, rule, ev.key.potassium_id, used),
        revision=1,
        severity=ev.severity.value,
        evidence=ev.key,
    )
    return Transition(rule, AlertEventKind.FIRED, None, alert, still_open=True)


def _escalate(rule: RuleId, current: OpenAlert, ev: RuleEvaluation) -> Transition:
    assert ev.severity is not None
    return Transition(
        rule, AlertEventKind.ESCALATED, None, _with_evidence(current, ev.key, ev.severity), still_open=True
    )


def _update(rule: RuleId, current: OpenAlert, ev: RuleEvaluation) -> Transition:
    assert ev.severity is not None
    return Transition(
        rule, AlertEventKind.UPDATED, None, _with_evidence(current, ev.key, ev.severity), still_open=True
    )


def _resolve(rule: RuleId, current: OpenAlert, reason: ResolveReason) -> Transition:
    # Resolution carries the alert's last severity: it says what is being closed.
    return Transition(
        rule,
        AlertEventKind.RESOLVED,
        reason,
        current._replace(revision=current.revision + 1),
        still_open=False,
    )


def _acknowledge(rule: RuleId, current: OpenAlert, ack: Acknowledge) -> Transition | None:
    if (ack.by, ack.at) in current.ack_log or ack.by in current.acked_now:
        # A re-delivered ack, or the same person again since the severity last changed (whatever its
        # `at`): nothing new to say.
        return None
    alert = current._replace(
        revision=current.revision + 1,
        acknowledged_by=ack.by,
        acknowledged_at=ack.at,
        acknowledged_severity=current.severity,
        ack_log=(*current.ack_log, (ack.by, ack.at)),
        acked_now=(*current.acked_now, ack.by),
    )
    return Transition(rule, AlertEventKind.ACKNOWLEDGED, None, alert, still_open=True)


def _retraction(current: OpenAlert, ev: RuleEvaluation, invalid_results: Collection[str]) -> bool:
    evidence = current.evidence
    return (evidence.potassium_id is not None and evidence.potassium_id in invalid_results) or (
        evidence.magnesium_id is not None and evidence.magnesium_id in invalid_results
    )


# --- the one transition function ----------------------------------------------------------------


def transition(
    rule: RuleId,
    current: OpenAlert | None,
    trigger: Trigger,
    *,
    patient_id: str,
    used_alert_ids: Collection[str] = (),
    invalid_results: Collection[str] = (),
    may_fire: bool = True,
) -> Transition | None:
    """The next lifecycle step of `rule`'s alert for this trigger, or None when nothing changes.

    `invalid_results`: ids of results whose latest status is cancelled or entered in error (retraction).
    `may_fire`: False for a rule disabled in the rules file: it opens no new episode, but an open one
    still runs to resolution.
    """
    if isinstance(trigger, Discharge):
        return _resolve(rule, current, ResolveReason.DISCHARGED) if current is not None else None
    if isinstance(trigger, Acknowledge):
        return _acknowledge(rule, current, trigger) if current is not None else None
    ev = trigger
    if current is None:
        return _fire(rule, ev, patient_id, used_alert_ids) if ev.holds and may_fire else None
    if not ev.holds:
        if _retraction(current, ev, invalid_results):
            return _resolve(rule, current, ResolveReason.RETRACTED)
        assert ev.reason is not None
        return _resolve(rule, current, ev.reason)
    assert ev.severity is not None
    if ev.severity.rank > Severity(current.severity).rank:
        return _escalate(rule, current, ev)
    if ev.key != current.evidence or ev.severity.value != current.severity:
        return _update(rule, current, ev)
    return None
