"""Builders of the simulated feed's messages: HL7 v2 ER7 (ORU^R01, RDE^O11, ADT^A01/A03) and FHIR R4 JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Obx",
    "OrderMessage",
    "adt_message",
    "fhir_medication_request",
    "fhir_observation",
    "hl7_escape",
    "hl7_time",
    "oru_r01",
    "rde_o11",
]

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
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
