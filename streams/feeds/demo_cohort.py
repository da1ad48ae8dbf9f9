"""The demo's synthetic alerting cohort: scripted patients whose alerts fire, escalate, update, get
acknowledged by a demo user and resolve for each reason, on wall-clock time, in rounds that repeat."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.lifecycle import alert_id_for
from alerts.models import RuleId
from streams.feeds import Envelope

__all__ = ["DEMO_ACK_USER", "ROUND_SECONDS", "STORY", "cohort_schedule"]

_LOINC = "http://loinc.org"
_RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_K_LOINC, _MG_MMOL_LOINC, _MG_MGDL_LOINC = "2823-3", "2601-3", "19123-9"

#: Who acknowledges in the demo; clearly not a person of the hospital.
DEMO_ACK_USER = "demo.nurse (demo user)"
#: A round starts this many seconds after the previous one; the script of a round ends well before.
ROUND_SECONDS = 150.0


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted message: `at` seconds into the round, for patient `who`, of kind `what`."""

    at: float
    who: str
    what: str
    args: dict[str, Any]


# Patients of a round: ward, room, bed.
_BEDS = {
    "A": ("MICU", "4", "A"),
    "B": ("4W", "12", "B"),
    "C": ("CVICU", "2", "A"),
    "D": ("5E", "7", "A"),
    "E": ("6N", "3", "C"),
}

# Each story shows one path through the alert lifecycle (KMG_COMBINED: moderate < K 3.5 and Mg < 0.70;
# high below K 3.0 or Mg 0.60; critical below K 2.5 or Mg 0.50; KMG_CHECK_MG: low K with no Mg).
# fmt: off
STORY: tuple[Step, ...] = (
    # A: fired (advisory, then combined moderate superseding it), escalated to high, updated, escalated to
    # critical, acknowledged, replaced (K and Mg orders), resolved as normalized.
    Step(0.5, "A", "admit", {}),
    Step(1.0, "A", "order", {"n": 1, "display": "furosemide 40 mg IV", "code": "4603", "dose": "40 mg",
                             "route": "IV", "status": "active"}),
    Step(2.0, "A", "lab", {"n": 1, "analyte": "K", "value": 3.2, "unit": "mmol/L"}),
    Step(4.0, "A", "lab", {"n": 2, "analyte": "Mg", "value": 1.56, "unit": "mg/dL"}),
    Step(20.0, "A", "lab", {"n": 3, "analyte": "K", "value": 2.8, "unit": "mmol/L"}),
    Step(32.0, "A", "lab", {"n": 4, "analyte": "K", "value": 2.7, "unit": "mmol/L"}),
    Step(45.0, "A", "lab", {"n": 5, "analyte": "Mg", "value": 0.45, "unit": "mmol/L"}),
    Step(60.0, "A", "ack", {"opened_by": 1, "note": "Replacing K and Mg; recheck in 4 h"}),
    Step(70.0, "A", "order", {"n": 2, "display": "potassium chloride 40 mEq PO", "code": "8591",
                              "dose": "40 mEq", "route": "PO", "status": "active"}),
    Step(71.0, "A", "order", {"n": 3, "display": "magnesium sulfate 2 g IV", "code": "6585", "dose": "2 g",
                              "route": "IV", "status": "active"}),
    Step(100.0, "A", "lab", {"n": 6, "analyte": "K", "value": 3.9, "unit": "mmol/L"}),
    Step(101.0, "A", "lab", {"n": 7, "analyte": "Mg", "value": 0.82, "unit": "mmol/L"}),
    # B: low K on a thiazide with no magnesium (advisory), resolved once a normal magnesium comes back.
    Step(3.0, "B", "admit", {}),
    Step(4.5, "B", "order", {"n": 1, "display": "hydrochlorothiazide 25 mg PO", "code": "5487",
                             "dose": "25 mg", "route": "PO", "status": "active"}),
    Step(6.0, "B", "lab", {"n": 1, "analyte": "K", "value": 3.3, "unit": "mEq/L"}),
    Step(90.0, "B", "lab", {"n": 2, "analyte": "Mg", "value": 2.0, "unit": "mg/dL"}),
    # C: critical at once (the banner), resolved by discharge.
    Step(8.0, "C", "admit", {}),
    Step(9.0, "C", "order", {"n": 1, "display": "bumetanide 1 mg IV", "code": "1808", "dose": "1 mg",
                             "route": "IV", "status": "active"}),
    Step(12.0, "C", "lab", {"n": 1, "analyte": "K", "value": 2.4, "unit": "mmol/L"}),
    Step(12.5, "C", "lab", {"n": 2, "analyte": "Mg", "value": 0.48, "unit": "mmol/L"}),
    Step(80.0, "C", "discharge", {}),
    # D: high, acknowledged, stays open until the next round discharges the patient.
    Step(15.0, "D", "admit", {}),
    Step(16.0, "D", "order", {"n": 1, "display": "torsemide 20 mg PO", "code": "38413", "dose": "20 mg",
                              "route": "PO", "status": "active"}),
    Step(18.0, "D", "lab", {"n": 1, "analyte": "K", "value": 3.0, "unit": "mmol/L"}),
    Step(18.5, "D", "lab", {"n": 2, "analyte": "Mg", "value": 1.41, "unit": "mg/dL"}),
    Step(50.0, "D", "ack", {"opened_by": 1, "note": None}),
    # E: moderate, then the K result is withdrawn by the lab (entered in error): resolved as retracted.
    Step(25.0, "E", "admit", {}),
    Step(26.0, "E", "order", {"n": 1, "display": "furosemide 20 mg PO", "code": "4603", "dose": "20 mg",
                              "route": "PO", "status": "active"}),
    Step(28.0, "E", "lab", {"n": 1, "analyte": "K", "value": 3.1, "unit": "mmol/L"}),
    Step(28.5, "E", "lab", {"n": 2, "analyte": "Mg", "value": 0.66, "unit": "mmol/L"}),
    Step(55.0, "E", "lab", {"n": 1, "analyte": "K", "value": 3.1, "unit": "mmol/L",
                            "status": "entered-in-error"}),
)
# fmt: on


def _patient(round_no: int, who: str) -> str:
    return f"DEMO-{round_no:03d}-{who}"


def _location(who: str) -> dict[str, str]:
    unit, room, bed = _BEDS[who]
    return {"unit": unit, "room": room, "bed": bed}


def _message(step: Step, patient: str, at: datetime, round_start: datetime) -> Envelope:
    """The native-JSON envelope of one step; `at` is its event time (the wall clock when it is due)."""
    stamp = at.isoformat()
    encounter = f"{patient}-V1"
    args = step.args
    if step.what in ("admit", "discharge"):
        event = {
            "patient_id": patient,
            "encounter_id": encounter,
            "event": step.what,
            "location": _location(step.who),
            "occurred_at": stamp,
        }
        return {"topic": "adt.events", "value": event}
    if step.what == "order":
        started = (round_start + timedelta(seconds=_order_start(step))).isoformat()
        order: dict[str, Any] = {
            "order_id": f"{patient}-O{args['n']}",
            "patient_id": patient,
            "encounter_id": encounter,
            "medication": {"code": args["code"], "system": _RXNORM, "display": args["display"]},
            "dose": args["dose"],
            "route": args["route"],
            "status": args["status"],
            "start": started,
            "recorded_at": stamp,
        }
        if args["status"] != "active":
            order["end"] = stamp
        return {"topic": "meds.orders", "value": order}
    if step.what == "lab":
        analyte, unit = args["analyte"], args["unit"]
        code = _K_LOINC if analyte == "K" else (_MG_MGDL_LOINC if unit == "mg/dL" else _MG_MMOL_LOINC)
        collected = (round_start + timedelta(seconds=_first_sent(step))).isoformat()
        result = {
            "result_id": f"{patient}-R{args['n']}",
            "patient_id": patient,
            "encounter_id": encounter,
            "code": code,
            "system": _LOINC,
            "value": args["value"],
            "unit": unit,
            "status": args.get("status", "final"),
            "collected_at": collected,
            "resulted_at": stamp,
            "location": _location(step.who),
        }
        return {"topic": "labs.results", "value": result}
    if step.what == "ack":
        opening_k = f"{patient}-R{args['opened_by']}"
        ack = {
            "alert_id": alert_id_for(patient, RuleId.KMG_COMBINED, opening_k),
            "patient_id": patient,
            "by": DEMO_ACK_USER,
            "at": stamp,
            "note": args["note"],
        }
        return {"topic": "alerts.acks", "value": ack}
    raise ValueError(f"unknown step kind {step.what!r}")


def _first_sent(step: Step) -> float:
    """A result keeps the collection time of its first send (a withdrawal names the same specimen)."""
    for other in STORY:
        if other.who == step.who and other.what == "lab" and other.args["n"] == step.args["n"]:
            return other.at
    return step.at


def _order_start(step: Step) -> float:
    """An order keeps the start time of its first event (stopping it does not move its start)."""
    for other in STORY:
        if other.who == step.who and other.what == "order" and other.args["n"] == step.args["n"]:
            return other.at
    return step.at


def cohort_schedule(start: datetime, *, rounds: int | None = None) -> Iterator[tuple[float, Envelope]]:
    """(seconds after `start`, envelope) of the cohort, in due order; `rounds=None` repeats for ever.

    Round r's patients are DEMO-<r>-A..E; each round first discharges the previous round's patient D,
    whose acknowledged alert is the one left open, so the board stays small however long the demo runs.
    """
    steps = sorted(STORY, key=lambda s: s.at)
    round_no = 0
    while rounds is None or round_no < rounds:
        offset = round_no * ROUND_SECONDS
        round_start = start + timedelta(seconds=offset)
        if round_no > 0:
            previous = _patient(round_no - 1, "D")
            leave = Step(0.2, "D", "discharge", {})
            yield offset + 0.2, _message(leave, previous, round_start + timedelta(seconds=0.2), round_start)
        for step in steps:
            at = round_start + timedelta(seconds=step.at)
            yield offset + step.at, _message(step, _patient(round_no, step.who), at, round_start)
        round_no += 1
