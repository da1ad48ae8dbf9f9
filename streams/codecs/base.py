"""Shared shapes of the input decoders: the Decoded result, time parsing and lab-result building."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from alerts.codes import CodeMapping, normalise_result
from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import Analyte, LabResult, LabResults, Location, PatientEvent, ResultStatus
from streams.errors import DecodeError

Format = Literal["json", "hl7v2", "fhir"]
Rejection = InvalidInputError | DecodeError


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one input message became: events to forward, items ignored, watched items rejected."""

    format: Format
    events: tuple[PatientEvent, ...]
    ignored: int
    rejected: tuple[Rejection, ...]
    # Of the ignored items, the K or Mg codes sent under a code-system spelling we do not know.
    unknown_system: int = 0


def finish(
    fmt: Format, events: list[PatientEvent], ignored: int, rejected: list[Rejection], unknown_system: int = 0
) -> Decoded:
    """The Decoded value, or DecodeError when the message had watched items and every one was rejected."""
    if rejected and not events:
        first = rejected[0]
        more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
        raise DecodeError(first.reason, first.detail + more)
    return Decoded(
        format=fmt,
        events=tuple(events),
        ignored=ignored,
        rejected=tuple(rejected),
        unknown_system=unknown_system,
    )


def under_unknown_system(codes: Iterable[tuple[str | None, str]], mapping: CodeMapping) -> bool:
    """True when one of an unwatched result's (system, code) pairs is a K/Mg code under an unknown system."""
    return any(code and mapping.under_unknown_system(code, system) for system, code in codes)


def aware(moment: datetime, tz: tzinfo) -> datetime:
    """A naive timestamp is read in the hospital time zone; an aware one is kept as sent."""
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_iso(text: object, tz: tzinfo, where: str, reason: DeadLetterReason) -> datetime:
    """An ISO 8601 date-time with a time of day; naive -> `tz`. Raises InvalidInputError."""
    # A bare date ("2026-03-01", "20260301") is at most 10 characters; every date-time is longer.
    if not isinstance(text, str) or len(stripped := text.strip()) <= 10:
        raise InvalidInputError(reason, f"{where}: {str(text)[:40]!r} is not a date-time with a time of day")
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise InvalidInputError(reason, f"{where}: {text[:40]!r} is not an ISO 8601 date-time") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


@dataclass(slots=True)
class RawResult:
    """One result as read from any format, before the code is looked up and the value normalised."""

    result_id: str
    code: str
    system: str | None
    value: object
    unit: str | None
    status: ResultStatus
    collected_at: datetime
    encounter_id: str | None = None
    resulted_at: datetime | None = None
    location: Location | None = None
    # Further (system, code) pairs to try when the first is not watched (HL7 alternate code, FHIR codings).
    alternates: tuple[tuple[str | None, str], ...] = ()


def watched(raw: RawResult, mapping: CodeMapping) -> tuple[Analyte, str] | None:
    """The analyte of the first watched code among the result's codes, and that code."""
    for system, code in ((raw.system, raw.code), *raw.alternates):
        analyte = mapping.analyte(code, system) if code else None
        if analyte is not None:
            return analyte, code
    return None


def lab_result(raw: RawResult, analyte: Analyte, code: str, patient_id: str) -> LabResult:
    """A normalised LabResult; raises InvalidInputError for an unusable value of a valid result.

    A cancelled or entered-in-error result only retracts an earlier one, so its value is kept when it is
    usable and dropped (None) when it is not, rather than dead-lettering the retraction.
    """
    value = sent_value = sent_unit = None
    if raw.status.is_valid:
        norm = normalise_result(analyte, raw.value, raw.unit)
        value, sent_value, sent_unit = norm.value, norm.sent_value, norm.sent_unit
    elif raw.value not in (None, ""):
        try:
            norm = normalise_result(analyte, raw.value, raw.unit)
            value, sent_value, sent_unit = norm.value, norm.sent_value, norm.sent_unit
        except InvalidInputError:
            pass
    return LabResult(
        result_id=raw.result_id,
        patient_id=patient_id,
        encounter_id=raw.encounter_id,
        analyte=analyte,
        code=code,
        status=raw.status,
        value=value,
        sent_value=sent_value,
        sent_unit=sent_unit,
        collected_at=raw.collected_at,
        resulted_at=raw.resulted_at,
        location=raw.location,
    )


def lab_events(
    fmt: Format, patient_id: str, raws: list[RawResult], mapping: CodeMapping, pre_rejected: list[Rejection]
) -> Decoded:
    """One LabResults event from a message's results: unwatched ones counted, bad watched ones rejected."""
    results: list[LabResult] = []
    ignored = unknown_system = 0
    rejected = list(pre_rejected)
    for raw in raws:
        found = watched(raw, mapping)
        if found is None:
            ignored += 1
            unknown_system += under_unknown_system(((raw.system, raw.code), *raw.alternates), mapping)
            continue
        try:
            results.append(lab_result(raw, found[0], found[1], patient_id))
        except InvalidInputError as exc:
            rejected.append(exc)
    events: list[PatientEvent] = []
    if results:
        events.append(LabResults(patient_id=patient_id, results=tuple(results)))
    return finish(fmt, events, ignored, rejected, unknown_system)
