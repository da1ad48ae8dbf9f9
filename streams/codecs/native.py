"""Decoder of the native JSON events of EVENTS.md (labs, orders, ADT, acks)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, TypeAdapter, ValidationError

from alerts.codes import CodeMapping, canonical_system
from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    AdtKind,
    Location,
    MedicationOrder,
    OrderStatus,
    PatientEvent,
    ResultStatus,
)
from streams.codecs.base import Decoded, RawResult, finish, lab_events, parse_iso
from streams.errors import DecodeError
from streams.topic_registry import InputKind

_SCHEMA = DeadLetterReason.SCHEMA_ERROR


class _In(BaseModel):
    # Producers may add fields; numbers are accepted where ids and codes are expected (MIMIC itemids).
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, frozen=True)


class _LocIn(_In):
    unit: str | None = None
    room: str | None = None
    bed: str | None = None

    def model(self) -> Location:
        return Location(unit=self.unit, room=self.room, bed=self.bed)


class _LabIn(_In):
    result_id: str
    patient_id: str
    encounter_id: str | None = None
    code: str
    system: str | None = None
    value: Any = None
    unit: str | None = None
    # Optional means null too (CLINICAL_RULES.md, edges settled): null is the default, final.
    status: ResultStatus | None = None
    collected_at: str
    resulted_at: str | None = None
    location: _LocIn | None = None


class _Medication(_In):
    code: str | None = None
    system: str | None = None
    display: str | None = None


class _OrderIn(_In):
    order_id: str
    patient_id: str
    encounter_id: str | None = None
    medication: _Medication
    status: OrderStatus
    start: str
    end: str | None = None
    recorded_at: str


class _AdtIn(_In):
    patient_id: str
    encounter_id: str | None = None
    event: AdtKind
    location: _LocIn | None = None
    occurred_at: str


class _AckIn(_In):
    alert_id: str
    patient_id: str
    # An ack must say who (a blank name is no name) and when: otherwise schema_error.
    by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    at: str
    note: str | None = None


_ADAPTERS: dict[InputKind, TypeAdapter[Any]] = {
    "labs": TypeAdapter(_LabIn),
    "orders": TypeAdapter(_OrderIn),
    "adt": TypeAdapter(_AdtIn),
    "acks": TypeAdapter(_AckIn),
}


def schema_detail(exc: ValidationError, prefix: str = "") -> str:
    """'field <dotted path>: <message>' for the first error, which names the offending field."""
    err = exc.errors(include_url=False, include_input=False)[0]
    path = ".".join(str(p) for p in err["loc"]) or "(message)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"field {prefix}{path}: {err['msg']}{more}"


def _when(text: str, field: str, tz: tzinfo) -> datetime:
    try:
        return parse_iso(text, tz, f"field {field}", _SCHEMA)
    except InvalidInputError as exc:
        raise DecodeError(exc.reason, exc.detail) from None


def decode_native(kind: InputKind, obj: dict[str, Any], *, tz: tzinfo, mapping: CodeMapping) -> Decoded:
    """Validate one native JSON object from the topic of `kind` and normalise it."""
    patient = obj.get("patient_id")
    if patient is None or (isinstance(patient, str) and not patient.strip()):
        raise DecodeError(DeadLetterReason.MISSING_PATIENT, "field patient_id: missing or empty")
    try:
        msg = _ADAPTERS[kind].validate_python(obj)
    except ValidationError as exc:
        raise DecodeError(_SCHEMA, schema_detail(exc)) from None
    if isinstance(msg, _LabIn):
        raw = RawResult(
            result_id=msg.result_id,
            code=msg.code,
            system=msg.system,
            value=msg.value,
            unit=msg.unit,
            status=msg.status or ResultStatus.FINAL,
            collected_at=_when(msg.collected_at, "collected_at", tz),
            encounter_id=msg.encounter_id,
            resulted_at=None if msg.resulted_at is None else _when(msg.resulted_at, "resulted_at", tz),
            location=None if msg.location is None else msg.location.model(),
        )
        return lab_events("json", msg.patient_id, [raw], mapping, [])
    event: PatientEvent
    if isinstance(msg, _OrderIn):
        med = msg.medication
        display = med.display or med.code
        if not display:
            raise DecodeError(_SCHEMA, "field medication: needs a code or a display name")
        ingredients = mapping.classify(code=med.code, system=med.system, display=med.display)
        if not ingredients:
            return finish("json", [], 1, [])
        event = MedicationOrder(
            order_id=msg.order_id,
            patient_id=msg.patient_id,
            encounter_id=msg.encounter_id,
            display=display,
            code=med.code,
            system=canonical_system(med.system),
            ingredients=ingredients,
            status=msg.status,
            start=_when(msg.start, "start", tz),
            end=None if msg.end is None else _when(msg.end, "end", tz),
            recorded_at=_when(msg.recorded_at, "recorded_at", tz),
        )
    elif isinstance(msg, _AdtIn):
        event = AdtEvent(
            patient_id=msg.patient_id,
            encounter_id=msg.encounter_id,
            event=msg.event,
            location=None if msg.location is None else msg.location.model(),
            occurred_at=_when(msg.occurred_at, "occurred_at", tz),
        )
    else:
        event = Acknowledgement(
            alert_id=msg.alert_id,
            patient_id=msg.patient_id,
            by=msg.by,
            at=_when(msg.at, "at", tz),
            note=msg.note,
        )
    return finish("json", [event], 0, [])
