"""The rules KMG_COMBINED and KMG_CHECK_MG: when they hold, severity, evidence, summary, recommendation."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.models import (
    DiureticEvidence,
    DrugClass,
    Evidence,
    LabEvidence,
    ResolveReason,
    RuleId,
    SentValue,
    Severity,
)
from alerts.rulesfile import RulesConfig
from alerts.state import EvidenceKey, StoredResult, from_micros
from alerts.window import Snapshot

__all__ = [
    "RECOMMENDATIONS",
    "RULE_ORDER",
    "EvidenceKey",
    "RuleEvaluation",
    "build_evidence",
    "combined_severity",
    "evaluate",
    "evaluate_all",
    "format_value",
    "summary",
]

RECOMMENDATIONS: dict[RuleId, str] = {
    RuleId.KMG_COMBINED: (
        "Replete magnesium together with potassium: hypokalemia may not correct until magnesium is repleted."
    ),
    RuleId.KMG_CHECK_MG: (
        "Measure serum magnesium: hypokalemia on a diuretic may be driven by magnesium depletion."
    ),
}

# Rule-id order, the tie-break within each group of transitions of one evaluation.
RULE_ORDER: tuple[RuleId, ...] = tuple(sorted(RuleId, key=lambda r: r.value))

_CLASS_LABEL = {
    DrugClass.LOOP.value: "loop diuretic",
    DrugClass.THIAZIDE.value: "thiazide diuretic",
    DrugClass.CARBONIC_ANHYDRASE_INHIBITOR.value: "carbonic anhydrase inhibitor",
}


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    """One rule at t: whether it holds, at what severity, on what evidence, and if not, why not."""

    rule: RuleId
    holds: bool
    severity: Severity | None
    key: EvidenceKey
    # When the rule does not hold: the first of superseded, normalized, expired, diuretic_stopped that
    # applies. `retracted` needs the open alert's evidence, so the lifecycle decides that one.
    reason: ResolveReason | None
    snapshot: Snapshot


def combined_severity(potassium: float, magnesium: float, rules: RulesConfig) -> Severity:
    crit, high = rules.severity.critical, rules.severity.high
    if potassium < crit.potassium_below or magnesium < crit.magnesium_below:
        return Severity.CRITICAL
    if potassium < high.potassium_below or magnesium < high.magnesium_below:
        return Severity.HIGH
    return Severity.MODERATE


def _key(snap: Snapshot) -> EvidenceKey:
    k, mg = snap.potassium, snap.magnesium
    return EvidenceKey(
        potassium_id=k[0] if k else None,
        potassium_value=k[1].value if k else None,
        magnesium_id=mg[0] if mg else None,
        magnesium_value=mg[1].value if mg else None,
        order_ids=tuple(sorted({oid for oid, _ in snap.diuretics})),
        refractory=snap.refractory,
    )


def _value(found: tuple[str, StoredResult] | None) -> float | None:
    return found[1].value if found is not None else None


def evaluate(rule: RuleId, snap: Snapshot, rules: RulesConfig) -> RuleEvaluation:
    """Evaluate one rule on a snapshot."""
    k, mg = _value(snap.potassium), _value(snap.magnesium)
    k_low = rules.thresholds.potassium_low
    mg_low = rules.thresholds.magnesium_low
    severity: Severity | None = None
    reason: ResolveReason | None = None
    if rule is RuleId.KMG_COMBINED:
        if (mg is not None and mg >= mg_low) or (k is not None and k >= k_low):
            reason = ResolveReason.NORMALIZED
        elif k is None or mg is None:
            reason = ResolveReason.EXPIRED
        elif not snap.on_wasting_diuretic:
            reason = ResolveReason.DIURETIC_STOPPED
        else:
            severity = combined_severity(k, mg, rules)
    else:
        if mg is not None:
            reason = ResolveReason.SUPERSEDED
        elif k is not None and k >= k_low:
            reason = ResolveReason.NORMALIZED
        elif k is None:
            reason = ResolveReason.EXPIRED
        elif not snap.on_wasting_diuretic:
            reason = ResolveReason.DIURETIC_STOPPED
        else:
            severity = Severity.ADVISORY
    if severity is not None and snap.refractory:
        severity = severity.raised()
    return RuleEvaluation(
        rule=rule,
        holds=severity is not None,
        severity=severity,
        key=_key(snap),
        reason=reason,
        snapshot=snap,
    )


def evaluate_all(snap: Snapshot, rules: RulesConfig) -> list[RuleEvaluation]:
    return [evaluate(rule, snap, rules) for rule in RULE_ORDER]


# --- evidence and text ----------------------------------------------------------------------------


def _lab(found: tuple[str, StoredResult] | None) -> LabEvidence | None:
    if found is None:
        return None
    rid, r = found
    assert r.value is not None
    # model_construct: these come from state the engine built itself, and validation dominated the cost
    # of emitting during alert storms; tests re-validate every emitted event.
    as_sent = (
        SentValue.model_construct(value=r.sent_value, unit=r.sent_unit)
        if r.sent_value is not None and r.sent_unit is not None
        else None
    )
    return LabEvidence.model_construct(
        value=r.value, as_sent=as_sent, collected_at=from_micros(r.collected_at), result_id=rid
    )


def build_evidence(snap: Snapshot) -> Evidence:
    """The evidence as it stands at the snapshot's t."""
    diuretics = [
        DiureticEvidence.model_construct(
            order_id=oid,
            ingredient=name,
            drug_class=DrugClass(cls),
            start=from_micros(order.start),
            end=from_micros(order.end) if order.end is not None else None,
        )
        for oid, order in snap.diuretics
        if order.start is not None
        for name, cls in order.wasting
    ]
    return Evidence.model_construct(
        potassium=_lab(snap.potassium),
        magnesium=_lab(snap.magnesium),
        diuretics=tuple(diuretics),
        refractory=snap.refractory,
    )


def format_value(value: float) -> str:
    """Two decimals without trailing zeros, but always one: 3.1, 3.0, 0.48, 0.5."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _hours(micros: int) -> str:
    hours = micros / 3_600_000_000
    return f"{int(hours)} h" if hours == int(hours) else f"{hours:g} h"


def summary(rule: RuleId, snap: Snapshot, rules: RulesConfig) -> str:
    """E.g. "K 2.9 mmol/L and Mg 0.48 mmol/L on furosemide (loop diuretic)"."""
    k, mg = _value(snap.potassium), _value(snap.magnesium)
    k_text = f"K {format_value(k)} mmol/L" if k is not None else "no current K"
    if mg is not None:
        mg_text = f"Mg {format_value(mg)} mmol/L"
    elif rule is RuleId.KMG_CHECK_MG:
        mg_text = f"no Mg in the last {_hours(rules.limits.magnesium_window)}"
    else:
        mg_text = "no current Mg"
    drugs: list[str] = []
    for _, order in snap.diuretics:
        for name, cls in order.wasting:
            label = f"{name} ({_CLASS_LABEL.get(cls, cls)})"
            if label not in drugs:
                drugs.append(label)
    if drugs:
        drug_text = "on " + (drugs[0] if len(drugs) == 1 else ", ".join(drugs[:-1]) + " and " + drugs[-1])
    else:
        drug_text = f"on no wasting diuretic in the last {_hours(rules.limits.diuretic_lookback)}"
    text = f"{k_text} and {mg_text} {drug_text}"
    if snap.refractory:
        text += ", refractory to potassium replacement"
    return text
