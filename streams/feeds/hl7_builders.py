"""Builders of the simulated feed's wire messages: native JSON, HL7 v2 ER7 (ORU, RDE, ADT) and FHIR R4."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

__all__ = [
    "Obx",
    "OrderMessage",
    "Result",
    "adt_message",
    "broken_message",
    "fhir_medication_request",
    "fhir_observation",
    "hl7_escape",
    "hl7_time",
    "iso_utc",
    "lab_messages",
    "native_adt",
    "native_order",
    "order_message",
    "oru_r01",
    "rde_o11",
]

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
_STATUS = {"F": "final", "C": "corrected", "X": "cancelled", "D": "entered-in-error"}
_UCUM_CODES = {"mmol/L": "mmol/L", "mEq/L": "meq/L", "mg/dL": "mg/dL"}
_SENDER = "LAB|SIMHOSP|LYTEWATCH|SIMHOSP"


_ESCAPES = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"})
# Texts repeat (test names, units, drug names, ward names), so their escaped forms are remembered.
_escaped: dict[str, str] = {}


def hl7_escape(text: str) -> str:
    """Escape HL7 v2 delimiters in free text (\\E\\ \\F\\ \\S\\ \\T\\ \\R\\)."""
    done = _escaped.get(text)
    if done is None:
        done = text.translate(_ESCAPES)
        if len(_escaped) < 4096:
            _escaped[text] = done
    return done


def hl7_time(iso: str) -> str:
    """'2025-01-06T08:30:00+00:00' -> '20250106083000+0000' (HL7 DTM with offset)."""
    return (
        f"{iso[0:4]}{iso[5:7]}{iso[8:10]}{iso[11:13]}{iso[14:16]}{iso[17:19]}"
        f"{iso[19]}{iso[20:22]}{iso[23:25]}"
    )


def _header(kind: str, control_id: str, sent: str) -> str:
    return f"MSH|^~\\&|{_SENDER}|{hl7_time(sent)}||{kind}|{control_id}|P|2.5.1"


def _pid_pv1(patient_id: str, encounter_id: str, location: tuple[str, str, str]) -> str:
    unit, room, bed = location
    # PV1-3 is unit^room^bed; PV1-19 the visit number (16 separators after PV1-3).
    return (
        f"PID|1||{patient_id}^^^SIMHOSP^MR\rPV1|1|I|{hl7_escape(unit)}^{room}^{bed}{'|' * 16}{encounter_id}"
    )


@dataclass(frozen=True, slots=True)
class Obx:
    """One observation of an ORU^R01: LOINC code and text, value as text, unit, OBX-11 status flag."""

    code: str
    text: str
    value: str
    unit: str
    status: str = "F"
    numeric: bool = True


def oru_r01(
    *,
    control_id: str,
    patient_id: str,
    encounter_id: str,
    location: tuple[str, str, str],
    filler: str,
    collected: str,
    released: str,
    results: Sequence[Obx],
    note: str | None = None,
) -> str:
    """A lab result message; one OBR (filler order number OBR-3, OBR-7 collected, OBR-22 released)."""
    when = hl7_time(collected)
    segments = [
        _header("ORU^R01^ORU_R01", control_id, released),
        _pid_pv1(patient_id, encounter_id, location),
        f"ORC|RE||{filler}",
        f"OBR|1||{filler}|CHEM^Chemistry panel^L|||{when}{'|' * 15}{hl7_time(released)}",
    ]
    for i, obx in enumerate(results, 1):
        kind = "NM" if obx.numeric else "ST"
        segments.append(
            f"OBX|{i}|{kind}|{obx.code}^{hl7_escape(obx.text)}^LN||{hl7_escape(obx.value)}|"
            f"{hl7_escape(obx.unit)}|||||{obx.status}|||{when}"
        )
    if note:
        segments.append(f"NTE|1|L|{hl7_escape(note)}")
    return "\r".join(segments)


@dataclass(frozen=True, slots=True)
class OrderMessage:
    """One medication order event, rendered as RDE^O11, FHIR MedicationRequest or native JSON."""

    order_id: str
    patient_id: str
    encounter_id: str
    location: tuple[str, str, str]
    code: str
    display: str
    status: str  # native/FHIR status: active, completed, stopped, cancelled
    start: str
    end: str | None
    recorded_at: str
    authored_on: str


_ORDER_CONTROL = {"active": "NW", "completed": "DC", "stopped": "DC", "cancelled": "CA"}


def rde_o11(order: OrderMessage, control_id: str) -> str:
    """RDE^O11: ORC-1 NW/DC/CA, ORC-2 order id, ORC-9 event time, TQ1-7/8 start/end, RXE-2 give code."""
    end = hl7_time(order.end) if order.end else ""
    code = order.code
    return "\r".join(
        (
            _header("RDE^O11^RDE_O11", control_id, order.recorded_at),
            _pid_pv1(order.patient_id, order.encounter_id, order.location),
            f"ORC|{_ORDER_CONTROL[order.status]}|{order.order_id}{'|' * 7}{hl7_time(order.recorded_at)}",
            f"TQ1|1{'|' * 6}{hl7_time(order.start)}|{end}",
            f"RXE||{code}^{hl7_escape(order.display)}^{'RXNORM' if code else ''}|1||EA",
        )
    )


def adt_message(
    *,
    trigger: str,
    control_id: str,
    patient_id: str,
    encounter_id: str,
    location: tuple[str, str, str],
    occurred: str,
) -> str:
    """ADT^A01 (admit) or ADT^A03 (discharge), EVN-2 the event time."""
    return "\r".join(
        (
            _header(f"ADT^{trigger}^ADT_{trigger}", control_id, occurred),
            f"EVN|{trigger}|{hl7_time(occurred)}",
            _pid_pv1(patient_id, encounter_id, location),
        )
    )


def fhir_observation(
    *,
    result_id: str,
    patient_id: str,
    encounter_id: str,
    code: str,
    text: str,
    value: float | str | None,
    unit: str,
    status: str,
    collected: str,
    released: str,
) -> dict[str, Any]:
    """A FHIR R4 laboratory Observation; a text value goes in valueString (which downstream rejects)."""
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": result_id,
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": text}], "text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
        "encounter": {"reference": f"Encounter/{encounter_id}"},
        "effectiveDateTime": collected,
        "issued": released,
    }
    if value is None:
        pass  # a cancellation carries no value
    elif isinstance(value, str):
        obs["valueString"] = value
    elif unit in _UCUM_CODES:
        obs["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": _UCUM_CODES[unit]}
    else:
        obs["valueQuantity"] = {"value": value, "unit": unit}
    return obs


def fhir_medication_request(order: OrderMessage) -> dict[str, Any]:
    """A FHIR R4 MedicationRequest; meta.lastUpdated is when this order event happened."""
    coding: dict[str, str] = {"system": RXNORM, "code": order.code, "display": order.display}
    if not order.code:
        coding = {"display": order.display}
    bounds = {"start": order.start} if order.end is None else {"start": order.start, "end": order.end}
    return {
        "resourceType": "MedicationRequest",
        "id": order.order_id,
        "meta": {"lastUpdated": order.recorded_at},
        "status": order.status,
        "intent": "order",
        "medicationCodeableConcept": {"coding": [coding], "text": order.display},
        "subject": {"reference": f"Patient/{order.patient_id}"},
        "encounter": {"reference": f"Encounter/{order.encounter_id}"},
        "authoredOn": order.authored_on,
        "dosageInstruction": [{"text": order.display, "timing": {"repeat": {"boundsPeriod": bounds}}}],
    }


def native_order(order: OrderMessage) -> dict[str, Any]:
    """An order event in the native JSON of EVENTS.md (no code: `display` is classified downstream)."""
    med = (
        {"code": order.code, "system": RXNORM, "display": order.display}
        if order.code
        else {"display": order.display}
    )
    value: dict[str, Any] = {
        "order_id": order.order_id,
        "patient_id": order.patient_id,
        "encounter_id": order.encounter_id,
        "medication": med,
        "status": order.status,
        "start": order.start,
        "recorded_at": order.recorded_at,
    }
    if order.end is not None:
        value["end"] = order.end
    return value


def order_message(order: OrderMessage, fmt: str, control_id: str) -> object:
    """The order event in `fmt`: "hl7" (RDE^O11 text), "fhir" (MedicationRequest) or "json"."""
    if fmt == "hl7":
        return rde_o11(order, control_id)
    if fmt == "fhir":
        return fhir_medication_request(order)
    return native_order(order)


def native_adt(
    *, patient_id: str, encounter_id: str, kind: str, location: tuple[str, str, str], occurred: str
) -> dict[str, Any]:
    unit, room, bed = location
    return {
        "patient_id": patient_id,
        "encounter_id": encounter_id,
        "event": kind,
        "location": {"unit": unit, "room": room, "bed": bed},
        "occurred_at": occurred,
    }


class Result(NamedTuple):
    """One K or Mg result of a specimen, as the lab sends it."""

    code: str
    text: str
    value: float | str | None  # a string is a non-numeric value ("hemolyzed"); None a cancelled result
    unit: str
    status: str  # the HL7 status flag: F, C, X or D
    result_id: str  # the result id of the JSON and FHIR forms


def lab_messages(
    fmt: str,
    *,
    control_id: str,
    patient_id: str,
    encounter_id: str,
    location: tuple[str, str, str],
    filler: str,
    collected: str,
    released: str,
    results: Sequence[Result],
    panel: Sequence[Obx] = (),
    note: str | None = None,
) -> list[object]:
    """One specimen's results: one ORU^R01 (with the `panel` OBX after the first), or one JSON/FHIR each."""
    if fmt == "hl7":
        obx = [
            Obx(code, text, "" if v is None else str(v), unit, flag, not isinstance(v, str))
            for code, text, v, unit, flag, _ in results
        ]
        obx[1:1] = panel
        return [
            oru_r01(
                control_id=control_id,
                patient_id=patient_id,
                encounter_id=encounter_id,
                location=location,
                filler=filler,
                collected=collected,
                released=released,
                results=obx,
                note=note,
            )
        ]
    out: list[object] = []
    unit_loc, room, bed = location
    for code, text, v, unit, flag, rid in results:
        if fmt == "fhir":
            out.append(
                fhir_observation(
                    result_id=rid,
                    patient_id=patient_id,
                    encounter_id=encounter_id,
                    code=code,
                    text=text,
                    value=v,
                    unit=unit,
                    status=_STATUS[flag],
                    collected=collected,
                    released=released,
                )
            )
            continue
        value: dict[str, Any] = {
            "result_id": rid,
            "patient_id": patient_id,
            "encounter_id": encounter_id,
            "code": code,
            "system": LOINC,
            "value": v,
            "unit": unit,
            "status": _STATUS[flag],
            "collected_at": collected,
            "resulted_at": released,
            "location": {"unit": unit_loc, "room": room, "bed": bed},
        }
        if v is None:
            del value["value"]
        out.append(value)
    return out


_days: dict[int, str] = {}


def iso_utc(ts: float) -> str:
    """Whole-second UTC ISO 8601 with offset; the date part is cached, as most events share a day."""
    day, rest = divmod(int(ts), 86400)
    if day not in _days and len(_days) > 4096:
        _days.clear()
    date = _days.get(day)
    if date is None:
        date = _days[day] = datetime.fromtimestamp(day * 86400, UTC).date().isoformat()
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}+00:00"


def broken_message(value: object, cut: float) -> str:
    """An unusable form of a message, cut at fraction `cut` in [0, 1): JSON truncated mid-object, or ER7
    whose MSH lost its encoding characters (and whose later segments are truncated)."""
    if isinstance(value, str):
        head, _, rest = value.partition("\r")
        return head.replace("|^~\\&|", "||", 1) + "\r" + rest[: int(cut * (len(rest) + 1))]
    text = orjson.dumps(value).decode("utf-8")
    return text[: 1 + int(cut * (len(text) - 1))]
