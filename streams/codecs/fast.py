"""The fast path for irrelevant traffic: a cheap look at a parsed message that is certainly ignored.

A hospital's lab feed is mostly other tests. For a native JSON lab result of a test we do not watch, the
full decode would build a pydantic model, parse timestamps and then only count the message as ignored.
This looks at the code first and checks, with plain Python, the few things the full decode would reject
the message for; it answers True only when the full decode would certainly say "ignored"
(tests/unit/codecs/test_fast.py compares the two on generated messages), and False ("not sure") for
everything else, which then takes the full decode.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from alerts.codes import CodeMapping
from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import ResultStatus
from streams.codecs.base import parse_iso
from streams.topic_registry import InputKind

_RESULT_STATUSES = frozenset(s.value for s in ResultStatus)
_LOCATION_FIELDS = ("unit", "room", "bed")
_MISSING = object()


def certainly_ignored(kind: InputKind, obj: dict[str, Any], *, tz: tzinfo, mapping: CodeMapping) -> bool:
    """True when the full decode of this native JSON object would count it as ignored and nothing else."""
    patient = obj.get("patient_id")
    if type(patient) is not str or not patient.strip():
        return False
    # Labs only: telling an order of an unwatched drug apart costs the same drug-name match as the full
    # decode, which relevant orders would then pay twice (measured: replay 5 % slower with orders here).
    return kind == "labs" and _unwatched_lab(obj, tz, mapping)


def _opt_str(obj: dict[str, Any], key: str) -> bool:
    return type(obj.get(key)) in (str, type(None))


def _unwatched_lab(obj: dict[str, Any], tz: tzinfo, mapping: CodeMapping) -> bool:
    code, system = obj.get("code"), obj.get("system")
    if type(code) is not str or type(system) not in (str, type(None)):
        return False
    # Not watched under its own system, nor under any other: a K/Mg code sent with an unexpected system
    # spelling is left to the full decode, which knows how to count it.
    if code and (mapping.analyte(code, system) is not None or mapping.analyte(code) is not None):
        return False
    if type(obj.get("result_id")) is not str or not (_opt_str(obj, "encounter_id") and _opt_str(obj, "unit")):
        return False
    if obj.get("status", "final") not in _RESULT_STATUSES:
        return False
    location = obj.get("location")
    if location is not None and (
        type(location) is not dict or not all(_opt_str(location, key) for key in _LOCATION_FIELDS)
    ):
        return False
    return _timestamp(obj.get("collected_at", _MISSING), tz) and (
        obj.get("resulted_at") is None or _timestamp(obj["resulted_at"], tz)
    )


def _timestamp(value: object, tz: tzinfo) -> bool:
    """Whether base.parse_iso (what the full decode calls) accepts the value."""
    if type(value) is not str:
        return False
    try:
        parse_iso(value, tz, "", DeadLetterReason.SCHEMA_ERROR)
    except InvalidInputError:
        return False
    return True
