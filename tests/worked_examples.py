"""CLINICAL_RULES.md's worked examples as replay envelopes (EVENTS.md wire format), one patient each.

Shared by the replay tests and the stream-vs-replay integration test. Example 1 arrives as one HL7 v2 ORU^R01
(K and Mg of one draw in one message); the others are native JSON, and example 4's magnesium is FHIR.
"""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DAY1 = "2026-03-02"
DAY2 = "2026-03-03"

Envelope = dict[str, Any]


def lab(patient: str, result_id: str, analyte: str, value: float | str, at: str, **extra: Any) -> Envelope:
    code, unit = {"K": ("2823-3", "mmol/L"), "Mg": ("2601-3", "mmol/L")}[analyte]
    value_doc: dict[str, Any] = {
        "result_id": result_id,
        "patient_id": patient,
        "encounter_id": f"E-{patient}",
        "code": code,
        "system": LOINC,
        "value": value,
        "unit": unit,
        "collected_at": at,
        "location": {"unit": "4W", "room": "12", "bed": patient[-1]},
    }
    value_doc.update(extra)
    return {"topic": "labs.results", "value": value_doc}


def order(
    patient: str,
    order_id: str,
    display: str,
    start: str,
    recorded_at: str,
    *,
    status: str = "active",
    **extra: Any,
) -> Envelope:
    value_doc: dict[str, Any] = {
        "order_id": order_id,
        "patient_id": patient,
        "encounter_id": f"E-{patient}",
        "medication": {"display": display},
        "status": status,
        "start": start,
        "recorded_at": recorded_at,
    }
    value_doc.update(extra)
    return {"topic": "meds.orders", "value": value_doc}


def oru(patient: str, filler: str, at: str, results: list[tuple[str, str, float, str]]) -> Envelope:
    """An HL7 v2.5 ORU^R01 with one OBX per (LOINC code, name, value, unit)."""
    stamp = at.replace("-", "").replace(":", "").replace("T", "")[:12]
    segments = [
        f"MSH|^~\\&|LAB|HOSP|LYTEWATCH|HOSP|{stamp}||ORU^R01|MSG-{filler}|P|2.5",
        f"PID|1||{patient}^^^HOSP^MR||Doe^Jane",
        f"PV1|1|I|4W^12^{patient[-1]}||||||||||||||||E-{patient}",
        f"OBR|1||{filler}|80048^Electrolytes|||{stamp}",
    ]
    for n, (code, name, value, unit) in enumerate(results, start=1):
        segments.append(f"OBX|{n}|NM|{code}^{name}^LN||{value}|{unit}|||||F|||{stamp}")
    return {"topic": "labs.results", "value": "\r".join(segments)}


def fhir_mg(patient: str, resource_id: str, value: float, at: str) -> Envelope:
    return {
        "topic": "labs.results",
        "value": {
            "resourceType": "Observation",
            "id": resource_id,
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "19123-9", "display": "Magnesium [Mass/volume]"}]},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": at,
            "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org"},
        },
    }


def worked_examples() -> list[Envelope]:
    """Examples 1-7 of CLINICAL_RULES.md, in file order (each patient's events in the order stated)."""
    t = f"{DAY1}T"
    return [
        # 1. On furosemide since 08:00; K 3.1 and Mg 0.62 at 10:00 -> KMG_COMBINED fired, moderate.
        order("P-EX1", "O-EX1", "Furosemide 40 mg IV", f"{t}08:00:00Z", f"{t}08:00:00Z"),
        oru(
            "P-EX1",
            "F-EX1",
            f"{t}10:00:00",
            [("2823-3", "Potassium", 3.1, "mmol/L"), ("2601-3", "Magnesium", 0.62, "mmol/L")],
        ),
        # 2. Same, then Mg 0.48 at 16:00 -> escalated to critical.
        order("P-EX2", "O-EX2", "furosemide 20 mg PO", f"{t}08:00:00Z", f"{t}08:00:00Z"),
        lab("P-EX2", "K-EX2", "K", 3.1, f"{t}10:00:00Z"),
        lab("P-EX2", "MG-EX2a", "Mg", 0.62, f"{t}10:00:00Z"),
        lab("P-EX2", "MG-EX2b", "Mg", 0.48, f"{t}16:00:00Z"),
        # 3. Spironolactone only; K 3.0, Mg 0.5 -> nothing.
        order("P-EX3", "O-EX3", "Spironolactone 25 mg", f"{t}08:00:00Z", f"{t}08:00:00Z"),
        lab("P-EX3", "K-EX3", "K", 3.0, f"{t}10:00:00Z"),
        lab("P-EX3", "MG-EX3", "Mg", 0.5, f"{t}10:00:00Z"),
        # 4. Hydrochlorothiazide; K 3.2, no Mg -> KMG_CHECK_MG; Mg 0.9 (2.19 mg/dL, FHIR) -> superseded.
        order("P-EX4", "O-EX4", "Hydrochlorothiazide 25 mg", f"{t}07:00:00Z", f"{t}07:00:00Z"),
        lab("P-EX4", "K-EX4", "K", 3.2, f"{t}10:00:00Z"),
        fhir_mg("P-EX4", "obs-mg-ex4", 2.19, f"{t}12:00:00Z"),
        # 5. Furosemide stopped 09:00 day 1; K 3.2 and Mg 0.6 at 10:00 day 2 -> nothing (outside 24 h).
        order("P-EX5", "O-EX5", "Lasix 40 mg", f"{t}00:00:00Z", f"{t}00:00:00Z"),
        order(
            "P-EX5",
            "O-EX5",
            "Lasix 40 mg",
            f"{t}00:00:00Z",
            f"{t}09:00:00Z",
            status="stopped",
            end=f"{t}09:00:00Z",
        ),
        lab("P-EX5", "K-EX5", "K", 3.2, f"{DAY2}T10:00:00Z"),
        lab("P-EX5", "MG-EX5", "Mg", 0.6, f"{DAY2}T10:00:00Z"),
        # 6. K 3.1 (R1) and Mg 0.6 fire; R1 cancelled -> resolved, retracted.
        order("P-EX6", "O-EX6", "furosemide 40 mg IV", f"{t}06:00:00Z", f"{t}06:00:00Z"),
        lab("P-EX6", "R1-EX6", "K", 3.1, f"{t}10:00:00Z"),
        lab("P-EX6", "MG-EX6", "Mg", 0.6, f"{t}10:00:00Z"),
        lab("P-EX6", "R1-EX6", "K", 3.1, f"{t}10:00:00Z", status="cancelled"),
        # 7. KCl at 06:00, K 3.2 at 11:00 and 3.3 at 17:00, Mg 0.65, on bumetanide -> refractory, high.
        order("P-EX7", "O-EX7-BUM", "Bumetanide 1 mg", f"{t}00:00:00Z", f"{t}00:00:00Z"),
        order("P-EX7", "O-EX7-KCL", "Potassium Chloride 40 mEq PO", f"{t}06:00:00Z", f"{t}06:00:00Z"),
        lab("P-EX7", "MG-EX7", "Mg", 0.65, f"{t}11:00:00Z"),
        lab("P-EX7", "K-EX7a", "K", 3.2, f"{t}11:00:00Z"),
        lab("P-EX7", "K-EX7b", "K", 3.3, f"{t}17:00:00Z"),
    ]


def follow_ups(alert_id_ex1: str) -> list[Envelope]:
    """An acknowledgement of example 1's alert, then the patient's discharge (resolves it, `discharged`)."""
    return [
        {
            "topic": "alerts.acks",
            "value": {
                "alert_id": alert_id_ex1,
                "patient_id": "P-EX1",
                "by": "nurse.kim",
                "at": f"{DAY1}T10:05:00Z",
            },
        },
        {
            "topic": "adt.events",
            "value": {
                "patient_id": "P-EX1",
                "encounter_id": "E-P-EX1",
                "event": "discharge",
                "location": {"unit": "4W", "room": "12", "bed": "1"},
                "occurred_at": f"{DAY1}T18:00:00Z",
            },
        },
    ]
