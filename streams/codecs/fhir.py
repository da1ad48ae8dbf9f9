"""Decoder of FHIR R4 resources: Observation (labs) and MedicationRequest (orders).

Validated with small pydantic models of the elements we read, not with fhir.resources: the full R4B
models are ~10x slower (figures in docs/INGEST.md) and check elements we never use.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from alerts.codes import CodeMapping
from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import Ingredient, MedicationOrder, OrderStatus, ResultStatus
from streams.codecs.base import Decoded, RawResult, finish, lab_events, parse_iso, under_unknown_system
from streams.codecs.native import schema_detail
from streams.errors import DecodeError
from streams.topic_registry import InputKind

_INVALID = DeadLetterReason.FHIR_INVALID

_OBSERVATION_STATUS: dict[str, ResultStatus | None] = {
    "registered": None,
    "preliminary": ResultStatus.PRELIMINARY,
    "final": ResultStatus.FINAL,
    "amended": ResultStatus.CORRECTED,
    "corrected": ResultStatus.CORRECTED,
    "cancelled": ResultStatus.CANCELLED,
    "entered-in-error": ResultStatus.ENTERED_IN_ERROR,
    "unknown": None,
}
_REQUEST_STATUS: dict[str, OrderStatus | None] = {
    "active": OrderStatus.ACTIVE,
    "on-hold": OrderStatus.ON_HOLD,
    "completed": OrderStatus.COMPLETED,
    "stopped": OrderStatus.STOPPED,
    "cancelled": OrderStatus.CANCELLED,
    "entered-in-error": OrderStatus.ENTERED_IN_ERROR,
    "draft": None,
    "unknown": None,
}
# Proposals and plans are not orders; only these intents put a drug into the patient.
_ORDER_INTENTS = frozenset({"order", "original-order", "reflex-order", "filler-order", "instance-order"})


class _E(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Coding(_E):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class _Concept(_E):
    coding: list[_Coding] = []
    text: str | None = None


class _Reference(_E):
    reference: str | None = None
    display: str | None = None


class _Quantity(_E):
    value: Decimal | None = None
    unit: str | None = None
    code: str | None = None


class _Period(_E):
    start: str | None = None
    end: str | None = None


class _Meta(_E):
    lastUpdated: str | None = None


class _Observation(_E):
    id: str | None = None
    status: str
    code: _Concept
    subject: _Reference | None = None
    encounter: _Reference | None = None
    effectiveDateTime: str | None = None
    effectivePeriod: _Period | None = None
    effectiveInstant: str | None = None
    issued: str | None = None
    valueQuantity: _Quantity | None = None
    valueString: str | None = None
    dataAbsentReason: _Concept | None = None


class _Repeat(_E):
    boundsPeriod: _Period | None = None


class _Timing(_E):
    repeat: _Repeat | None = None


class _Dosage(_E):
    timing: _Timing | None = None


class _MedicationRequest(_E):
    id: str | None = None
    meta: _Meta | None = None
    status: str
    intent: str | None = None
    subject: _Reference | None = None
    encounter: _Reference | None = None
    medicationCodeableConcept: _Concept | None = None
    medicationReference: _Reference | None = None
    authoredOn: str | None = None
    dosageInstruction: list[_Dosage] = []


_OBSERVATION = TypeAdapter(_Observation)
_REQUEST = TypeAdapter(_MedicationRequest)


def _ref_id(ref: _Reference | None, resource: str) -> str | None:
    """`<id>` of "Patient/<id>" (relative or absolute URL, optional /_history/n)."""
    if ref is None or not ref.reference:
        return None
    parts = ref.reference.strip().split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == resource and parts[i + 1]:
            return parts[i + 1]
    return None


def _time(text: str | None, tz: tzinfo, where: str) -> datetime:
    return parse_iso(text, tz, where, _INVALID)


def _observation(obj: dict[str, Any], tz: tzinfo, mapping: CodeMapping) -> Decoded:
    try:
        obs = _OBSERVATION.validate_python(obj)
    except ValidationError as exc:
        raise DecodeError(_INVALID, schema_detail(exc, "Observation.")) from None
    patient = _ref_id(obs.subject, "Patient")
    if patient is None:
        raise DecodeError(DeadLetterReason.MISSING_PATIENT, "Observation.subject: no Patient/<id> reference")
    if obs.status not in _OBSERVATION_STATUS:
        raise DecodeError(_INVALID, f"Observation.status: {obs.status[:30]!r} is not an R4 status")
    codings = [(c.system, c.code or "") for c in obs.code.coding if c.code]
    status = _OBSERVATION_STATUS[obs.status]
    if status is None or not any(mapping.analyte(code, system) for system, code in codings):
        return finish("fhir", [], 1, [], int(status is not None and under_unknown_system(codings, mapping)))
    if not obs.id:
        raise DecodeError(_INVALID, "Observation.id: missing, so the result cannot be identified")
    period_start = obs.effectivePeriod.start if obs.effectivePeriod else None
    when = obs.effectiveDateTime or obs.effectiveInstant or period_start
    try:
        collected = _time(when, tz, "Observation.effectiveDateTime")
        resulted = _time(obs.issued, tz, "Observation.issued") if obs.issued else None
    except InvalidInputError as exc:
        raise DecodeError(exc.reason, exc.detail) from None
    quantity = obs.valueQuantity
    value: object = quantity.value if quantity is not None else obs.valueString
    unit = (quantity.unit or quantity.code) if quantity is not None else None
    system, code = codings[0]
    raw = RawResult(
        result_id=obs.id,
        code=code or "",
        system=system,
        value=value,
        unit=unit,
        status=status,
        collected_at=collected,
        encounter_id=_ref_id(obs.encounter, "Encounter"),
        resulted_at=resulted,
        alternates=tuple(codings[1:]),
    )
    return lab_events("fhir", patient, [raw], mapping, [])


def _read_request(obj: dict[str, Any]) -> _MedicationRequest:
    try:
        return _REQUEST.validate_python(obj)
    except ValidationError as exc:
        raise DecodeError(_INVALID, schema_detail(exc, "MedicationRequest.")) from None


def _classify(
    req: _MedicationRequest, mapping: CodeMapping
) -> tuple[dict[tuple[str, str], Ingredient], list[str], tuple[str | None, str | None]]:
    """Watched ingredients by every coding and name of the request, its names, and its first code."""
    concept = req.medicationCodeableConcept
    found: dict[tuple[str, str], Ingredient] = {}
    first_code: tuple[str | None, str | None] = (None, None)
    names: list[str] = []
    for coding in concept.coding if concept else []:
        if first_code == (None, None) and coding.code:
            first_code = (coding.system, coding.code)
        for ing in mapping.classify(code=coding.code, system=coding.system, display=coding.display):
            found.setdefault((ing.name, ing.drug_class.value), ing)
        if coding.display:
            names.append(coding.display)
    reference = req.medicationReference
    for text in (concept.text if concept else None, reference.display if reference else None):
        if text:
            names.insert(0, text)
            for ing in mapping.classify(display=text):
                found.setdefault((ing.name, ing.drug_class.value), ing)
    return found, names, first_code


def classify_request(
    obj: dict[str, Any], *, tz: tzinfo, mapping: CodeMapping
) -> tuple[str, tuple[Ingredient, ...], datetime | None]:
    """A MedicationRequest (e.g. a CDS Hooks draft order): its name, watched ingredients and authoredOn.

    Raises DecodeError naming the element when the resource is not a readable MedicationRequest.
    """
    req = _read_request(obj)
    found, names, first_code = _classify(req, mapping)
    try:
        authored = _time(req.authoredOn, tz, "MedicationRequest.authoredOn") if req.authoredOn else None
    except InvalidInputError as exc:
        raise DecodeError(exc.reason, exc.detail) from None
    return (names[0] if names else first_code[1] or req.id or "?"), tuple(found.values()), authored


def _medication_request(obj: dict[str, Any], tz: tzinfo, mapping: CodeMapping) -> Decoded:
    req = _read_request(obj)
    patient = _ref_id(req.subject, "Patient")
    if patient is None:
        raise DecodeError(
            DeadLetterReason.MISSING_PATIENT, "MedicationRequest.subject: no Patient/<id> reference"
        )
    if req.status not in _REQUEST_STATUS:
        raise DecodeError(_INVALID, f"MedicationRequest.status: {req.status[:30]!r} is not an R4 status")
    status = _REQUEST_STATUS[req.status]
    if status is None or (req.intent is not None and req.intent not in _ORDER_INTENTS):
        return finish("fhir", [], 1, [])
    found, names, first_code = _classify(req, mapping)
    if not found:
        return finish("fhir", [], 1, [])
    if not req.id:
        raise DecodeError(_INVALID, "MedicationRequest.id: missing, so the order cannot be identified")
    bounds = next(
        (
            d.timing.repeat.boundsPeriod
            for d in req.dosageInstruction
            if d.timing and d.timing.repeat and d.timing.repeat.boundsPeriod
        ),
        None,
    )
    try:
        recorded_text = (req.meta.lastUpdated if req.meta else None) or req.authoredOn
        recorded = _time(recorded_text, tz, "MedicationRequest.authoredOn")
        start_text = (bounds.start if bounds else None) or req.authoredOn
        start = _time(start_text, tz, "MedicationRequest.dosageInstruction.timing.repeat.boundsPeriod.start")
        end = _time(bounds.end, tz, "...boundsPeriod.end") if bounds and bounds.end else None
    except InvalidInputError as exc:
        raise DecodeError(exc.reason, exc.detail) from None
    order = MedicationOrder(
        order_id=req.id,
        patient_id=patient,
        encounter_id=_ref_id(req.encounter, "Encounter"),
        display=names[0] if names else first_code[1] or req.id,
        code=first_code[1],
        system=first_code[0],
        ingredients=tuple(found.values()),
        status=status,
        start=start,
        end=end,
        recorded_at=recorded,
    )
    return finish("fhir", [order], 0, [])


_RESOURCES = {"labs": ("Observation", _observation), "orders": ("MedicationRequest", _medication_request)}


def decode_fhir(kind: InputKind, obj: dict[str, Any], *, tz: tzinfo, mapping: CodeMapping) -> Decoded:
    """Validate and normalise one FHIR resource (already parsed from JSON) read from the topic of `kind`."""
    resource = obj.get("resourceType")
    accepted = _RESOURCES.get(kind)
    if accepted is None or resource != accepted[0]:
        raise DecodeError(
            DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE,
            f"FHIR {str(resource)[:40]} is not accepted on the {kind} topic",
        )
    return accepted[1](obj, tz, mapping)
