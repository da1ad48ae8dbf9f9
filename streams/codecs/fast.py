"""The fast path for irrelevant traffic: a cheap look at a message that is certainly ignored.

A hospital's lab feed is mostly other tests. For a native JSON lab result of a test we do not watch, the
full decode would build a pydantic model, parse timestamps and then only count the message as ignored; for
an HL7 v2 ORU^R01 of such tests it would split and unescape every field it reads and build its context.
This looks at the codes first and checks, with plain Python, the few things the full decode would reject
the message for; it answers only when the full decode would certainly say "ignored"
(tests/unit/codecs/test_fast.py compares the two on generated messages), and "not sure" for everything
else, which then takes the full decode.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from alerts.codes import CodeMapping
from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import ResultStatus
from streams.codecs.base import Decoded, finish, parse_iso, under_unknown_system
from streams.codecs.hl7v2 import NO_RESULT_YET, SEGMENT_NAME
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


# The standard encoding characters: a message with others takes the full decode, as does one with an escape
# in a field read here, so that splitting on them reads each field as the full decode's unescaping reader.
_HL7_START = "MSH|^~\\&|"
_segment_names: set[str] = set()


def ignored_oru(kind: InputKind, text: str, mapping: CodeMapping) -> Decoded | None:
    """What decode_hl7 returns for an ORU^R01 whose results are all of tests we do not watch (or carry no
    result yet), or None when not sure."""
    if kind != "labs" or not text.startswith(_HL7_START) or "\n" in text:
        return None
    msh = pid = None
    obx: list[list[str]] = []
    for line in text.split("\r"):
        name = line.partition("|")[0]
        if name not in _segment_names:
            if not line.strip():
                continue
            if not SEGMENT_NAME.fullmatch(name):
                return None
            if len(_segment_names) < 1024:
                _segment_names.add(name)
        # Only the fields read below are split off.
        if msh is None:
            msh = line.split("|", 9)
        elif name == "OBX":
            obx.append(line.split("|", 12))
        elif name == "PID" and pid is None:
            pid = line.split("|", 4)
    # MSH-9 sits at index 8 here: the full decode counts the field separator itself as MSH-1.
    if msh is None or pid is None or _escaped(msh, 8) or _escaped(pid, 3):
        return None
    message_type = _repetition(msh, 8)
    if _part(message_type, 0).upper() != "ORU" or _part(message_type, 1).upper() != "R01":
        return None
    if not _part(_repetition(pid, 3), 0):
        return None
    ignored = unknown_system = 0
    for seg in obx:
        if _escaped(seg, 3) or _escaped(seg, 11):
            return None
        obx3 = _repetition(seg, 3)
        code, system, alt_code, alt_system = (_part(obx3, n) for n in (0, 2, 3, 5))
        watched = (code and mapping.analyte(code, system or None)) or (
            alt_code and mapping.analyte(alt_code, alt_system or None)
        )
        if watched and _part(_repetition(seg, 11), 0).upper() not in NO_RESULT_YET:
            return None
        ignored += 1
        unknown_system += not watched and under_unknown_system(
            ((system or None, code), (alt_system or None, alt_code)), mapping
        )
    return finish("hl7v2", [], ignored, [], unknown_system)


def _escaped(fields: list[str], field: int) -> bool:
    return field < len(fields) and "\\" in fields[field]


def _repetition(fields: list[str], field: int) -> list[str]:
    """The components of a field's first repetition."""
    return fields[field].partition("~")[0].split("^") if field < len(fields) else []


def _part(components: list[str], n: int) -> str:
    """Component n (from 0) as the full decode reads it: up to a subcomponent separator, stripped."""
    return components[n].partition("&")[0].strip() if n < len(components) else ""
