"""A deliberately simple second implementation of CLINICAL_RULES.md, for the model-based test.

Written from the spec (and docs/CLINICAL_DECISIONS.md where the spec is silent), not from `alerts/`:
plain dicts and lists, nothing pruned, and every definition recomputed from the visit's full history
at every step. It reads the native JSON of EVENTS.md itself, for the subset of codes, units and drug
names the model-based test sends. Times are integer minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

H = 60  # minutes in an hour
K_WINDOW, MG_WINDOW, LOOKBACK, RECHECK, REPLACEMENT_LOOKBACK, RESET = (
    48 * H,
    72 * H,
    24 * H,
    4 * H,
    48 * H,
    24 * H,
)
K_LOW, MG_LOW = Decimal("3.5"), Decimal("0.70")
SEVERITIES = ["advisory", "moderate", "high", "critical"]
RULES = ["KMG_CHECK_MG", "KMG_COMBINED"]  # rule-id order

SYSTEMS = {
    "loinc": [
        "http://loinc.org",
        "http://loinc.org/",
        "https://loinc.org",
        "https://loinc.org/",
        "LN",
        "urn:oid:2.16.840.1.113883.6.1",
    ],
    "rxnorm": [
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://www.nlm.nih.gov/research/umls/rxnorm/",
        "https://www.nlm.nih.gov/research/umls/rxnorm",
        "RXNORM",
        "urn:oid:2.16.840.1.113883.6.88",
    ],
    "atc": ["http://www.whocc.no/atc", "ATC"],
    "mimic": ["mimic-iv-itemid"],
}
ANALYTE_CODES = {
    ("loinc", "2823-3"): "K",
    ("loinc", "6298-4"): "K",
    ("mimic", "50971"): "K",
    ("loinc", "19123-9"): "Mg",
    ("loinc", "2601-3"): "Mg",
    ("mimic", "50960"): "Mg",
}
UNITS = {
    "K": {"mmol/l": Decimal(1), "meq/l": Decimal(1)},
    "Mg": {"mmol/l": Decimal(1), "mg/dl": Decimal("0.4114"), "meq/l": Decimal("0.5")},
}
PLAUSIBLE = {"K": (Decimal("1.0"), Decimal("10.0")), "Mg": (Decimal("0.1"), Decimal("5.0"))}
WASTING = {"loop", "thiazide", "carbonic_anhydrase_inhibitor"}
DRUG_CODES = {
    ("rxnorm", "4603"): ["loop"],
    ("rxnorm", "5487"): ["thiazide"],
    ("rxnorm", "9997"): ["potassium_sparing"],
    ("rxnorm", "8591"): ["potassium_replacement"],
    ("rxnorm", "6585"): ["magnesium_replacement"],
    ("atc", "C03CA01"): ["loop"],
}
DRUG_NAMES = {
    "furosemide 40 mg iv": ["loop"],
    "lasix 20 mg": ["loop"],
    "hydrochlorothiazide 25 mg": ["thiazide"],
    "maxzide": ["potassium_sparing", "thiazide"],
    "spironolactone 25 mg": ["potassium_sparing"],
    "kcl 20 meq": ["potassium_replacement"],
    "magnesium sulfate 2 g": ["magnesium_replacement"],
    "acetaminophen 500 mg": [],
    "losartan potassium 50 mg": [],
}
_PLAIN = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
EPOCH = datetime.fromisoformat("2026-03-02T00:00:00+00:00")


def system_of(spelling: str | None) -> str | None:
    """'loinc', 'rxnorm', ... for a known spelling, 'unknown' for any other, None for none."""
    if spelling is None:
        return None
    for name, spellings in SYSTEMS.items():
        if spelling in spellings:
            return name
    return "unknown"


def minutes(text: Any) -> int | None:
    """A timestamp with a time of day in minutes since EPOCH, None when it is not one."""
    if not isinstance(text, str) or "T" not in text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the hospital time zone of the test
    return int((moment - EPOCH).total_seconds()) // 60


def number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(value, str) and _PLAIN.fullmatch(value.strip()):
        return Decimal(value.strip())
    return None


class Rejected(Exception):
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome


@dataclass
class Version:
    """One arrived version of a result, as the model keeps it."""

    rid: str
    analyte: str
    valid: bool
    value: Decimal | None
    at: int
    arrival: int
    identity: tuple[Any, ...]


@dataclass
class OrderEvent:
    oid: str
    classes: list[str]
    status: str
    start: int
    end: int | None
    recorded_at: int
    arrival: int


@dataclass
class Alert:
    alert_id: str
    revision: int
    severity: str
    key: tuple[Any, ...]
    acks: list[tuple[str, int]] = field(default_factory=list)
    acked_now: list[str] = field(default_factory=list)


@dataclass
class Patient:
    pid: str
    clock: int | None = None
    arrivals: int = 0
    versions: list[Version] = field(default_factory=list)
    order_events: list[OrderEvent] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)
    used_ids: list[str] = field(default_factory=list)
    discharged_at: int | None = None
    visit_start: int | None = None


# --- decoding (the subset of EVENTS.md the test sends) ------------------------------------------------


def decode_lab(msg: dict[str, Any]) -> tuple[str, Version] | str:
    """('used', version) or the outcome: 'ignored:<reason>' or 'dead:<reason>'."""
    system = system_of(msg.get("system"))
    code = msg["code"]
    if system is None:
        found = [a for (_, c), a in ANALYTE_CODES.items() if c == code]
        analyte = found[0] if found else None
    else:
        analyte = ANALYTE_CODES.get((system, code))
    if analyte is None:
        known_code = any(c == code for _, c in ANALYTE_CODES)
        return "ignored:unknown_code_system" if system == "unknown" and known_code else "ignored:unwatched"
    at = minutes(msg["collected_at"])
    if at is None:
        return "dead:schema_error"
    status = msg.get("status") or "final"
    valid = status in ("preliminary", "final", "corrected")
    sent = number(msg.get("value"))
    unit = (msg.get("unit") or "").strip()
    factor = UNITS[analyte].get(unit.lower().replace(" ", "")) if unit else None
    value = (
        None if sent is None or factor is None else (sent * factor).quantize(Decimal("0.01"), ROUND_HALF_UP)
    )
    usable = value is not None and PLAUSIBLE[analyte][0] <= value <= PLAUSIBLE[analyte][1]
    if valid and not usable:
        if sent is None:
            return "dead:non_numeric_value"
        return "dead:unknown_unit" if factor is None else "dead:implausible_value"
    loc = msg.get("location")
    identity = (
        code,
        status,
        float(sent) if usable and sent is not None else None,
        unit if usable else None,
        at,
        msg.get("encounter_id"),
        None if loc is None else (loc.get("unit"), loc.get("room"), loc.get("bed")),
    )
    return "used", Version(msg["result_id"], analyte, valid, value if valid else None, at, 0, identity)


def classify(medication: dict[str, Any]) -> list[str]:
    classes: list[str] = []
    code, system = medication.get("code"), system_of(medication.get("system"))
    if code:
        for sys in [system] if system is not None else ["rxnorm", "atc"]:
            classes += DRUG_CODES.get((sys, code), [])
    classes += DRUG_NAMES.get((medication.get("display") or "").lower(), [])
    return sorted(set(classes))


# --- the definitions, recomputed from the whole visit -------------------------------------------------


def latest_versions(p: Patient) -> dict[str, Version]:
    latest: dict[str, Version] = {}
    for v in p.versions:
        latest[v.rid] = v
    return latest


def order_truths(p: Patient) -> dict[str, OrderEvent]:
    truth: dict[str, OrderEvent] = {}
    for e in p.order_events:
        if e.oid not in truth or (e.recorded_at, e.arrival) >= (
            truth[e.oid].recorded_at,
            truth[e.oid].arrival,
        ):
            truth[e.oid] = e
    return {oid: e for oid, e in truth.items() if e.status not in ("cancelled", "entered-in-error")}


def interval(e: OrderEvent) -> tuple[int, int | None]:
    end = e.end
    if end is None and e.status in ("completed", "stopped", "on-hold"):
        end = e.recorded_at
    return e.start, end


def current(p: Patient, analyte: str, t: int, window: int) -> Version | None:
    best = None
    for v in latest_versions(p).values():
        in_window = v.analyte == analyte and v.valid and t - window <= v.at <= t
        if in_window and (best is None or (v.at, v.arrival) > (best.at, best.arrival)):
            best = v
    return best


def snapshot(p: Patient, t: int) -> dict[str, Any]:
    k, mg = current(p, "K", t, K_WINDOW), current(p, "Mg", t, MG_WINDOW)
    diuretics = []
    starts = []
    for oid, e in order_truths(p).items():
        start, end = interval(e)
        if WASTING & set(e.classes) and start <= t and (end is None or (end > start and end > t - LOOKBACK)):
            diuretics.append(oid)
        if "potassium_replacement" in e.classes and t - REPLACEMENT_LOOKBACK <= start <= t - RECHECK:
            starts.append(start)
    ks = [v for v in latest_versions(p).values() if v.analyte == "K" and v.valid and v.at <= t]
    refractory = False
    for s in starts:
        after = [v.value for v in ks if v.at > s + RECHECK]
        if after and all(value is not None and value < K_LOW for value in after):
            refractory = True
    return {
        "k": k,
        "mg": mg,
        "diuretics": sorted(diuretics),
        "refractory": refractory,
        "key": (
            k.rid if k else None,
            k.value if k else None,
            mg.rid if mg else None,
            mg.value if mg else None,
            tuple(sorted(diuretics)),
            refractory,
        ),
    }


def evaluate(rule: str, snap: dict[str, Any]) -> tuple[str | None, str | None]:
    """(severity, None) when the rule holds, else (None, reason)."""
    k = snap["k"].value if snap["k"] else None
    mg = snap["mg"].value if snap["mg"] else None
    on = bool(snap["diuretics"])
    if rule == "KMG_COMBINED":
        if (mg is not None and mg >= MG_LOW) or (k is not None and k >= K_LOW):
            return None, "normalized"
        if k is None or mg is None:
            return None, "expired"
        if not on:
            return None, "diuretic_stopped"
        if k < Decimal("2.5") or mg < Decimal("0.50"):
            severity = "critical"
        elif k < Decimal("3.0") or mg < Decimal("0.60"):
            severity = "high"
        else:
            severity = "moderate"
    else:
        if mg is not None:
            return None, "superseded"
        if k is not None and k >= K_LOW:
            return None, "normalized"
        if k is None:
            return None, "expired"
        if not on:
            return None, "diuretic_stopped"
        severity = "advisory"
    if snap["refractory"]:
        severity = SEVERITIES[min(SEVERITIES.index(severity) + 1, 3)]
    return severity, None


# --- the lifecycle ------------------------------------------------------------------------------------

Transition = tuple[Any, ...]
_GROUP = {"resolved": 0, "fired": 1, "escalated": 2, "updated": 3, "acknowledged": 4}


def _emit(
    p: Patient, kind: str, rule: str, alert: Alert, reason: str | None, snap: dict[str, Any]
) -> Transition:
    k, mg = snap["k"], snap["mg"]
    return (
        kind,
        rule,
        alert.severity,
        reason,
        alert.revision,
        alert.alert_id,
        k.rid if k else None,
        k.value if k else None,
        mg.rid if mg else None,
        mg.value if mg else None,
        tuple(snap["diuretics"]),
        snap["refractory"],
        p.clock,
    )


def _evaluate(p: Patient) -> list[Transition]:
    assert p.clock is not None
    snap = snapshot(p, p.clock)
    latest = latest_versions(p)
    out: list[tuple[int, int, str, str, Alert, str | None]] = []
    for i, rule in enumerate(RULES):
        cur = p.alerts.get(rule)
        severity, reason = evaluate(rule, snap)
        if cur is None:
            if severity is not None:
                n, base = 0, f"{p.pid}/{rule}/{snap['k'].rid}"
                while f"{base}/{n}" in p.used_ids:
                    n += 1
                alert = Alert(f"{base}/{n}", 1, severity, snap["key"])
                p.used_ids.append(alert.alert_id)
                p.alerts[rule] = alert
                out.append((_GROUP["fired"], i, "fired", rule, alert, None))
        elif severity is None:
            evidence_ids = [cur.key[0], cur.key[2]]
            if any(rid is not None and not latest[rid].valid for rid in evidence_ids):
                reason = "retracted"
            cur.revision += 1
            del p.alerts[rule]
            out.append((_GROUP["resolved"], i, "resolved", rule, cur, reason))
        else:
            rise = SEVERITIES.index(severity) > SEVERITIES.index(cur.severity)
            if rise or snap["key"] != cur.key or severity != cur.severity:
                kind = "escalated" if rise else "updated"
                if severity != cur.severity:
                    cur.acked_now = []
                cur.revision, cur.severity, cur.key = cur.revision + 1, severity, snap["key"]
                out.append((_GROUP[kind], i, kind, rule, cur, None))
    out.sort(key=lambda item: item[:2])
    # The snapshot of an alert is taken as each transition is emitted, from the alert as it then is.
    return [_emit(p, kind, rule, _copy(alert), reason, snap) for _, _, kind, rule, alert, reason in out]


def _copy(alert: Alert) -> Alert:
    return Alert(
        alert.alert_id, alert.revision, alert.severity, alert.key, list(alert.acks), list(alert.acked_now)
    )


class World:
    """Every patient the model has seen; `apply` takes one input message as it arrives."""

    def __init__(self) -> None:
        self.patients: dict[str, Patient] = {}

    def apply(self, topic: str, msg: dict[str, Any]) -> tuple[str, list[Transition]]:
        """('used' | 'ignored:<reason>' | 'dead:<reason>', the alert transitions in emission order)."""
        pid = msg["patient_id"]
        if topic == "alerts.acks":
            by = (msg.get("by") or "").strip()
            at = minutes(msg.get("at"))
            if not by or at is None:
                return "dead:schema_error", []
            done = self._ack(pid, msg["alert_id"], by, at)
            return ("used" if done else "ignored:ack_changes_nothing"), done
        p = self.patients.setdefault(pid, Patient(pid))
        if topic == "labs.results":
            decoded = decode_lab(msg)
            if isinstance(decoded, str):
                return decoded, []
            version = decoded[1]
            return "used", self._step(pid, "lab", version, version.at)
        if topic == "meds.orders":
            classes = classify(msg["medication"])
            if not classes:
                return "ignored:unwatched", []
            recorded = minutes(msg["recorded_at"])
            start = minutes(msg["start"])
            assert recorded is not None and start is not None
            event = OrderEvent(
                msg["order_id"], classes, msg["status"], start, minutes(msg.get("end")), recorded, 0
            )
            return "used", self._step(pid, "order", event, recorded)
        at = minutes(msg["occurred_at"])
        assert at is not None and p is not None
        return "used", self._step(pid, msg["event"], None, at)

    def _ack(self, pid: str, alert_id: str, by: str, at: int) -> list[Transition]:
        p = self.patients.get(pid)
        if p is None:
            return []
        for rule in RULES:
            alert = p.alerts.get(rule)
            if alert is None or alert.alert_id != alert_id:
                continue
            if (by, at) in alert.acks or by in alert.acked_now:
                return []
            alert.revision += 1
            alert.acks.append((by, at))
            alert.acked_now.append(by)
            assert p.clock is not None
            return [_emit(p, "acknowledged", rule, _copy(alert), None, snapshot(p, p.clock))]
        return []

    def _step(self, pid: str, kind: str, payload: Any, et: int) -> list[Transition]:
        p = self.patients[pid]
        if p.discharged_at is not None and et >= p.discharged_at + RESET:
            # A new visit: an empty state, begun at the latest when the 24 h ran out.
            p = self.patients[pid] = Patient(pid, visit_start=p.discharged_at + RESET)
        p.arrivals += 1
        changed = False
        discharging_now = False
        if kind == "lab":
            latest = latest_versions(p).get(payload.rid)
            if latest is None or latest.identity != payload.identity:
                payload.arrival = p.arrivals
                p.versions.append(payload)
                changed = True
        elif kind == "order":
            changed = self._store_order(p, payload)
        else:
            changed = p.clock is None or et > p.clock
            if kind == "discharge":
                if p.visit_start is not None and et < p.visit_start:
                    pass  # from a visit that has ended
                elif p.discharged_at is None:
                    p.discharged_at, discharging_now, changed = et, True, True
                elif et > p.discharged_at:
                    p.discharged_at = et
            elif kind == "admit":
                p.visit_start = et if p.visit_start is None else max(p.visit_start, et)
                if p.discharged_at is not None and et > p.discharged_at:
                    p.discharged_at, changed = None, True
        if not changed:
            return []
        p.clock = et if p.clock is None else max(p.clock, et)
        if discharging_now:
            snap = snapshot(p, p.clock)
            out = []
            for rule in RULES:
                if rule in p.alerts:
                    alert = p.alerts.pop(rule)
                    alert.revision += 1
                    out.append(_emit(p, "resolved", rule, alert, "discharged", snap))
            return out
        if p.discharged_at is not None:
            return []
        return _evaluate(p)

    @staticmethod
    def _store_order(p: Patient, event: OrderEvent) -> bool:
        previous = [e for e in p.order_events if e.oid == event.oid]
        if previous:
            truth = max(previous, key=lambda e: (e.recorded_at, e.arrival))
            if event.recorded_at < truth.recorded_at:
                return False  # older than the order's truth: ignored entirely
            if event.recorded_at == truth.recorded_at and _record(event) == _record(truth):
                return False  # the same truth again
        event.arrival = p.arrivals
        p.order_events.append(event)
        return True


def _record(e: OrderEvent) -> tuple[Any, ...]:
    """What an order event says for the rules (a display or encounter change says nothing new)."""
    counts = WASTING & set(e.classes) or "potassium_replacement" in e.classes
    if e.status in ("cancelled", "entered-in-error") or not counts:
        return ("gone",)
    return (interval(e), sorted(WASTING & set(e.classes)), "potassium_replacement" in e.classes)
