"""Limits on ids and free text of decoded events: length, control and bidi characters (schema_error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    LabResult,
    LabResults,
    Location,
    MedicationOrder,
    PatientEvent,
)
from alerts.text import first_unsafe
from streams.codecs.base import Decoded, Rejection, finish


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `length` characters, none of them unsafe (alerts.text) except those in `allowed`."""

    length: int
    allowed: frozenset[str] = frozenset()

    @property
    def spaces(self) -> dict[int, str]:
        """str.translate's table turning each allowed character into a space."""
        return {ord(c): " " for c in self.allowed}


#: Identifiers: patient, encounter, result, order and alert ids, codes. HL7 v2.5 CX.1 is at most 15
#: characters and real MRNs, accession and order numbers are far shorter than 100.
ID: Final = Limit(100)
#: Ward, room and bed (HL7 PL components are at most 20 characters).
PLACE: Final = Limit(64)
#: A person's name as typed or sent (the ack's `by`), a drug display name, a unit of measure.
NAME: Final = Limit(200)
#: An ack's note: free text, several lines allowed.
NOTE: Final = Limit(2000, frozenset("\n\t"))


def check(value: str | None, limit: Limit, where: str) -> None:
    """Raise InvalidInputError(schema_error) naming the field; the value itself is never quoted."""
    if value is None:
        return
    if len(value) > limit.length:
        detail = f"{where}: {len(value)} characters, at most {limit.length}"
        raise InvalidInputError(DeadLetterReason.SCHEMA_ERROR, detail)
    found = first_unsafe(value.translate(limit.spaces) if limit.allowed else value)
    if found is not None:
        position, code = found
        detail = f"{where}: control or bidi character {code} at position {position}"
        raise InvalidInputError(DeadLetterReason.SCHEMA_ERROR, detail)


def _location(location: Location | None, where: str) -> None:
    if location is not None:
        for name in ("unit", "room", "bed"):
            check(getattr(location, name), PLACE, f"{where}location.{name}")


def _result(result: LabResult, index: int) -> None:
    where = f"results[{index}]."
    check(result.result_id, ID, where + "result_id")
    check(result.encounter_id, ID, where + "encounter_id")
    check(result.code, ID, where + "code")
    check(result.sent_unit, NAME, where + "unit")
    _location(result.location, where)


def _event(event: PatientEvent) -> None:
    check(event.patient_id, ID, "patient_id")
    if isinstance(event, MedicationOrder):
        check(event.order_id, ID, "order_id")
        check(event.encounter_id, ID, "encounter_id")
        check(event.display, NAME, "display")
        check(event.code, ID, "code")
        check(event.system, NAME, "system")
    elif isinstance(event, AdtEvent):
        check(event.encounter_id, ID, "encounter_id")
        _location(event.location, "")
    elif isinstance(event, Acknowledgement):
        check(event.alert_id, ID, "alert_id")
        check(event.by, NAME, "by")
        check(event.note, NOTE, "note")


def _limited(event: PatientEvent, rejected: list[Rejection]) -> PatientEvent | None:
    """The event within limits: a lab result over a limit is dropped from its message, others whole."""
    try:
        _event(event)
    except InvalidInputError as exc:
        rejected.append(exc)
        return None
    if not isinstance(event, LabResults):
        return event
    kept = []
    for index, result in enumerate(event.results):
        try:
            _result(result, index)
        except InvalidInputError as exc:
            rejected.append(exc)
        else:
            kept.append(result)
    if not kept:
        return None
    return event if len(kept) == len(event.results) else event.model_copy(update={"results": tuple(kept)})


def within_limits(decoded: Decoded) -> Decoded:
    """Decoded with the events over a limit moved to `rejected` (DecodeError if nothing is left)."""
    if not decoded.events:
        return decoded
    rejected = list(decoded.rejected)
    events = [e for e in (_limited(event, rejected) for event in decoded.events) if e is not None]
    if len(rejected) == len(decoded.rejected):
        return decoded
    return finish(decoded.format, events, decoded.ignored, rejected)
