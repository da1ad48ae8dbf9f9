"""Realistic input messages in each format (native JSON, HL7 v2 ER7, FHIR R4), shared by tests and benchmarks.

Each builder gives the documented default message; keyword overrides change fields (None drops one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")


def lab_json(**overrides: Any) -> dict[str, Any]:
    """A native labs.results object: a serum potassium of 3.1 mmol/L unless overridden (None drops)."""
    msg: dict[str, Any] = {
        "result_id": "R1",
        "patient_id": "MRN0001",
        "encounter_id": "E42",
        "code": "2823-3",
        "system": "http://loinc.org",
        "value": 3.1,
        "unit": "mmol/L",
        "status": "final",
        "collected_at": "2026-03-01T10:00:00",
        "resulted_at": "2026-03-01T10:40:00+01:00",
        "location": {"unit": "4W", "room": "12", "bed": "A"},
    }
    msg.update(overrides)
    return {k: v for k, v in msg.items() if v is not None}


def order_json(**overrides: Any) -> dict[str, Any]:
    """A native meds.orders object: furosemide by RxNorm ingredient code, active, unless overridden."""
    msg: dict[str, Any] = {
        "order_id": "O1",
        "patient_id": "MRN0001",
        "encounter_id": "E42",
        "medication": {
            "code": "4603",
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "display": "furosemide 40 mg IV",
        },
        "status": "active",
        "start": "2026-03-01T08:00:00",
        "end": None,
        "recorded_at": "2026-03-01T07:55:00",
    }
    msg.update(overrides)
    return {k: v for k, v in msg.items() if v is not None}


def _er7(segments: Sequence[str], sep: str) -> str:
    return sep.join(segments) + sep


def oru(
    *obx: tuple[str, ...],
    pid3: str = "MRN0001^^^HOSP^MR~998877^^^SSA^SS",
    obr2: str = "PLC100",
    obr3: str = "FIL200",
    obr7: str = "202603011000",
    pv1_3: str = "4W^12^A",
    pv1_19: str = "E42",
    extra: Sequence[str] = ("ZLW|1|site-specific|data",),
    sep: str = "\r",
) -> str:
    """An ORU^R01 message: MSH, PID (two identifiers), PV1, one OBR and the given OBX segments.

    Each OBX is (code^text^system, value, unit, status[, OBX-14[, value type]]).
    """
    segments = [
        "MSH|^~\\&|LAB|HOSP|LYTEWATCH|HOSP|20260301104500||ORU^R01^ORU_R01|MSG0001|P|2.5.1",
        f"PID|1||{pid3}||DOE^JANE||19500101|F",
        f"PV1|1|I|{pv1_3}||||||||||||||||{pv1_19}",
        f"OBR|1|{obr2}|{obr3}|80048^Basic metabolic panel^CPT|||{obr7}|||||||||||||||202603011040|||F",
    ]
    for i, item in enumerate(obx, start=1):
        code, value, unit, status, *rest = item
        obx14 = rest[0] if rest else ""
        vtype = rest[1] if len(rest) > 1 else "NM"
        segments.append(f"OBX|{i}|{vtype}|{code}||{value}|{unit}|||||{status}|||{obx14}")
    segments.extend(extra)
    return _er7(segments, sep)


def rde(
    *,
    control: str = "NW",
    placer: str = "ORD77",
    filler: str = "",
    give: str = "4603^Furosemide 40 mg IV^RXNORM",
    orc9: str = "202603010755",
    tq1_7: str = "202603010800",
    tq1_8: str = "",
    with_tq1: bool = True,
) -> str:
    """An RDE^O11 message with one order group (ORC, RXE, TQ1)."""
    segments = [
        "MSH|^~\\&|PHARM|HOSP|LYTEWATCH|HOSP|20260301075600||RDE^O11^RDE_O11|MSG0002|P|2.5.1",
        "PID|1||MRN0001^^^HOSP^MR||DOE^JANE",
        "PV1|1|I|4W^12^A||||||||||||||||E42",
        f"ORC|{control}|{placer}|{filler}||||||{orc9}",
        f"RXE||{give}|40||mg",
    ]
    if with_tq1:
        segments.append(f"TQ1|1||||||{tq1_7}|{tq1_8}")
    segments.append("RXR|IV")
    return _er7(segments, "\r")


def adt(trigger: str = "A01", *, evn2: str = "202603010700", pv1_3: str = "4W^12^A") -> str:
    """An ADT message of the given trigger event."""
    segments = [
        f"MSH|^~\\&|ADT|HOSP|LYTEWATCH|HOSP|20260301070100||ADT^{trigger}^ADT_A01|MSG0003|P|2.5.1",
        f"EVN|{trigger}|{evn2}",
        "PID|1||MRN0001^^^HOSP^MR||DOE^JANE",
        f"PV1|1|I|{pv1_3}||||||||||||||||E42",
    ]
    return _er7(segments, "\r")


def observation(**overrides: Any) -> dict[str, Any]:
    """A FHIR R4 Observation: serum magnesium 1.5 mg/dL, final, unless overridden (None drops)."""
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "obs-mg-1",
        "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "19123-9", "display": "Magnesium [Mass/volume]"}
            ],
            "text": "Magnesium",
        },
        "subject": {"reference": "Patient/MRN0001"},
        "encounter": {"reference": "Encounter/E42"},
        "effectiveDateTime": "2026-03-01T10:00:00+01:00",
        "issued": "2026-03-01T10:41:00+01:00",
        "valueQuantity": {
            "value": 1.5,
            "unit": "mg/dL",
            "system": "http://unitsofmeasure.org",
            "code": "mg/dL",
        },
    }
    res.update(overrides)
    return {k: v for k, v in res.items() if v is not None}


def medication_request(**overrides: Any) -> dict[str, Any]:
    """A FHIR R4 MedicationRequest: hydrochlorothiazide, active, with a bounds period, unless overridden."""
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "5487",
                    "display": "hydrochlorothiazide",
                }
            ],
            "text": "Hydrochlorothiazide 25 mg tablet",
        },
        "subject": {"reference": "Patient/MRN0001"},
        "encounter": {"reference": "Encounter/E42"},
        "authoredOn": "2026-03-01T07:30:00+01:00",
        "dosageInstruction": [
            {"timing": {"repeat": {"boundsPeriod": {"start": "2026-03-01T08:00:00+01:00"}}}}
        ],
    }
    res.update(overrides)
    return {k: v for k, v in res.items() if v is not None}
