"""CDS Hooks 2.0 cards from a patient's view: one per open alert, and the diuretic order-sign warning."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.models import DrugClass, Ingredient, LabEvidence, Severity
from alerts.notifier.messages import alert_link
from alerts.patient_view import OpenAlertView, PatientView
from alerts.rules import format_value
from alerts.rulesfile import RulesConfig

__all__ = [
    "ORDER_SELECT",
    "ORDER_SIGN",
    "OVERRIDE_REASONS",
    "PATIENT_VIEW",
    "Card",
    "DraftOrder",
    "discovery",
    "order_cards",
    "patient_view_cards",
]

PATIENT_VIEW = "lytewatch-patient-view"
ORDER_SIGN = "lytewatch-order-sign"
ORDER_SELECT = "lytewatch-order-select"
# The service id -> (hook, title, description) of the discovery response.
SERVICES: dict[str, tuple[str, str, str]] = {
    PATIENT_VIEW: (
        "patient-view",
        "Combined potassium and magnesium depletion",
        "One card per open lytewatch alert of the patient: low K and Mg on a wasting diuretic, or low K "
        "with no recent Mg.",
    ),
    ORDER_SIGN: (
        "order-sign",
        "Diuretic order with low potassium or magnesium",
        "Warns when a loop, thiazide or carbonic anhydrase inhibitor diuretic is signed while the "
        "patient's K or Mg is low; suggests a Mg level when K is low and none was measured recently.",
    ),
    ORDER_SELECT: (
        "order-select",
        "Diuretic selected with low potassium or magnesium",
        "The order-sign check, as soon as a diuretic is selected.",
    ),
}

_CODE_SYSTEM = "https://lytewatch.example.org/cds/override-reason"
#: (code, display) of the reasons a clinician may give for going ahead anyway.
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("replacement-ordered", "Potassium and magnesium replacement ordered"),
    ("values-rechecked", "Values rechecked or recheck ordered"),
    ("benefit-outweighs-risk", "Benefit outweighs risk (e.g. volume overload)"),
    ("palliative", "Comfort care / palliative"),
    ("other", "Other clinical reason"),
)
_INDICATOR: dict[Severity, Literal["info", "warning", "critical"]] = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "warning",
    Severity.MODERATE: "info",
    Severity.ADVISORY: "info",
}
_WASTING_LABEL = {
    DrugClass.LOOP: "loop diuretic",
    DrugClass.THIAZIDE: "thiazide diuretic",
    DrugClass.CARBONIC_ANHYDRASE_INHIBITOR: "carbonic anhydrase inhibitor",
}
_SUMMARY_MAX = 140
# uuid5 namespace of card ids: the same situation always gets the same card uuid (feedback refers to it).
_CARD_NAMESPACE = uuid.UUID("6f1c7a2e-4a7b-4b8e-9a51-3c1d2e5f7a90")
RECOMMENDATION = (
    "Check and replete magnesium: with magnesium low, potassium replacement alone may fail "
    "(the kidney keeps wasting potassium until magnesium is corrected)."
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)


class Coding(_Model):
    code: str
    system: str | None = None
    display: str | None = None


class Source(_Model):
    label: str
    url: str | None = None
    topic: Coding | None = None


class Link(_Model):
    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"


class Card(_Model):
    """A CDS Hooks 2.0 card (the fields lytewatch uses)."""

    uuid: str
    summary: str = Field(max_length=_SUMMARY_MAX)
    detail: str
    indicator: Literal["info", "warning", "critical"]
    source: Source
    override_reasons: tuple[Coding, ...] = Field(default=(), alias="overrideReasons")
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class DraftOrder:
    """A draft medication order as the EHR sent it, classified by lytewatch's medication classes."""

    order_id: str
    display: str
    ingredients: tuple[Ingredient, ...]
    authored_at: datetime | None = None


def discovery(*, prefetch_patient: bool = False) -> dict[str, Any]:
    """The body of GET /cds-services; with `prefetch_patient` each service asks for the Patient resource."""
    prefetch = {"prefetch": {"patient": "Patient/{{context.patientId}}"}} if prefetch_patient else {}
    return {
        "services": [
            {"hook": hook, "title": title, "description": description, "id": service_id, **prefetch}
            for service_id, (hook, title, description) in SERVICES.items()
        ]
    }


def _source(rules: RulesConfig, rule: str | None, dashboard_url: str | None) -> Source:
    topic = Coding(code=rule, system="https://lytewatch.example.org/cds/rule", display=rule) if rule else None
    return Source(label=f"lytewatch (rules {rules.rules_version})", url=dashboard_url, topic=topic)


def _short(text: str) -> str:
    return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 1].rstrip() + "…"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M %Z").strip()


def _lab_row(name: str, lab: LabEvidence | None) -> str:
    if lab is None:
        return f"| {name} | none kept | | |"
    sent = f"{format_value(lab.as_sent.value)} {lab.as_sent.unit}" if lab.as_sent else ""
    return f"| {name} | {format_value(lab.value)} mmol/L | {sent} | {_when(lab.collected_at)} |"


def _alert_detail(alert: OpenAlertView) -> str:
    ev = alert.evidence
    lines = [
        f"**{alert.summary}**",
        "",
        "| | value | as sent | collected |",
        "|---|---|---|---|",
        _lab_row("Potassium", ev.potassium),
        _lab_row("Magnesium", ev.magnesium),
        "",
    ]
    for d in ev.diuretics:
        label = _WASTING_LABEL.get(d.drug_class, d.drug_class.value)
        lines.append(f"- {d.ingredient} ({label}), order {d.order_id}, since {_when(d.start)}")
    if ev.refractory:
        lines.append("- potassium still low after potassium replacement (refractory)")
    lines += ["", f"Recommendation: {alert.recommendation}"]
    if alert.acknowledged_by:
        lines.append(f"\nAcknowledged by {alert.acknowledged_by}.")
    lines.append(f"\nAlert {alert.alert_id}, revision {alert.revision}, severity {alert.severity.value}.")
    return "\n".join(lines)


def patient_view_cards(view: PatientView, rules: RulesConfig, dashboard_url: str) -> list[Card]:
    """One card per open alert, the most severe first; indicator from severity."""
    alerts = sorted(view.open_alerts, key=lambda a: (-a.severity.rank, a.rule.value))
    return [
        Card(
            uuid=str(uuid.uuid5(_CARD_NAMESPACE, f"{a.alert_id}:{a.revision}")),
            summary=_short(f"{a.severity.value.capitalize()}: {a.summary}"),
            detail=_alert_detail(a),
            indicator=_INDICATOR[a.severity],
            source=_source(rules, a.rule.value, dashboard_url),
            links=(Link(label="Open this alert in lytewatch", url=alert_link(dashboard_url, a.alert_id)),),
        )
        for a in alerts
    ]


def _current(lab: LabEvidence | None, t: datetime, window: timedelta) -> LabEvidence | None:
    """The value if it was collected within `window` before `t` (a later one cannot exist)."""
    return lab if lab is not None and lab.collected_at >= t - window else None


def _age(lab: LabEvidence, t: datetime) -> str:
    """ ", 5 h old" at the time the order is judged; nothing when it is less than a minute."""
    minutes = (t - lab.collected_at).total_seconds() / 60
    if minutes < 1:
        return ""
    return f", {minutes / 60:.0f} h old" if minutes >= 60 else f", {minutes:.0f} min old"


def order_cards(
    view: PatientView, drafts: list[DraftOrder], rules: RulesConfig, *, service: str = ORDER_SIGN
) -> list[Card]:
    """Cards for draft orders: a warning when a wasting diuretic meets low K or Mg, else nothing.

    Values are judged at the later of the patient's clock and the drafts' authoredOn, with the rules'
    windows (K 48 h, Mg 72 h by default): an older value is stale and neither warns nor reassures.
    """
    wasting = [
        (draft, ing)
        for draft in drafts
        for ing in draft.ingredients
        if ing.drug_class.wastes_potassium_and_magnesium
    ]
    if not wasting or view.clock is None:
        return []
    t = max([view.clock, *(d.authored_at for d, _ in wasting if d.authored_at is not None)])
    lim, th, crit = rules.windows, rules.thresholds, rules.severity.critical
    k = _current(view.potassium, t, lim.potassium_window)
    mg = _current(view.magnesium, t, lim.magnesium_window)
    k_low = k is not None and k.value < th.potassium_low
    mg_low = mg is not None and mg.value < th.magnesium_low
    names = sorted({f"{ing.name} ({_WASTING_LABEL[ing.drug_class]})" for _, ing in wasting})
    drug_text = " and ".join(names)
    order_ids = ",".join(sorted({d.order_id for d, _ in wasting}))
    cards: list[Card] = []
    if k_low or mg_low:
        critical = (k_low and k is not None and k.value < crit.potassium_below) or (
            mg_low and mg is not None and mg.value < crit.magnesium_below
        )
        low = [
            f"{name} {format_value(lab.value)} mmol/L"
            for name, lab, is_low in (("K", k, k_low), ("Mg", mg, mg_low))
            if is_low and lab is not None
        ]
        lines = [
            f"This patient is about to receive **{drug_text}**, which wastes potassium and magnesium.",
            "",
        ]
        for name, lab, is_low, limit in (
            ("Potassium", k, k_low, th.potassium_low),
            ("Magnesium", mg, mg_low, th.magnesium_low),
        ):
            if lab is None:
                lines.append(f"- {name}: no result in the rule's window")
                continue
            state = "**low**" if is_low else "not low"
            lines.append(
                f"- {name} {format_value(lab.value)} mmol/L ({state}, threshold {format_value(limit)}), "
                f"collected {_when(lab.collected_at)}{_age(lab, t)}"
            )
        lines += ["", f"Recommendation: {RECOMMENDATION}"]
        cards.append(
            Card(
                uuid=str(uuid.uuid5(_CARD_NAMESPACE, f"{service}:{view.patient_id}:{order_ids}:{low}")),
                summary=_short(f"{' and '.join(low)} low: {drug_text} will lower them further"),
                detail="\n".join(lines),
                indicator="critical" if critical else "warning",
                source=_source(rules, None, None),
                override_reasons=tuple(
                    Coding(code=c, system=_CODE_SYSTEM, display=d) for c, d in OVERRIDE_REASONS
                ),
            )
        )
    if k_low and mg is None and k is not None:
        hours = format_value(lim.magnesium_window.total_seconds() / 3600).removesuffix(".0")
        cards.append(
            Card(
                uuid=str(uuid.uuid5(_CARD_NAMESPACE, f"{service}:{view.patient_id}:{order_ids}:check-mg")),
                summary=_short(
                    f"K {format_value(k.value)} mmol/L and no magnesium in {hours} h: order a Mg level"
                ),
                detail=(
                    f"Potassium is low ({format_value(k.value)} mmol/L, collected {_when(k.collected_at)}) "
                    f"and no magnesium was measured in the last {hours} h. Hypokalemia on {drug_text} may "
                    "be driven by magnesium depletion: measure serum magnesium before or with potassium "
                    "replacement."
                ),
                indicator="info",
                source=_source(rules, None, None),
            )
        )
    return cards
