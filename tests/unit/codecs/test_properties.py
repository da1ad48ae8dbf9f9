"""Property tests: random bytes and random mutations of valid messages raise only DecodeError."""

from __future__ import annotations

import json
from typing import Any, get_args
from zoneinfo import ZoneInfo

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from alerts.codes import DEFAULT_MAPPING
from alerts.models import LabResults, PatientEvent
from streams.codecs import Decoded, InputKind, decode
from streams.errors import DecodeError

KINDS: tuple[InputKind, ...] = get_args(InputKind)
TZ = ZoneInfo("America/New_York")
EVENT = TypeAdapter(PatientEvent)

ORU = (
    "MSH|^~\\&|LAB|HOSP|LW|HOSP|20260301104500||ORU^R01|M1|P|2.5.1\r"
    "PID|1||MRN0001^^^HOSP^MR~998877^^^SSA^SS||DOE^JANE\r"
    "PV1|1|I|4W^12^A||||||||||||||||E42\r"
    "OBR|1|PLC100|FIL200|80048^BMP^CPT|||202603011000\r"
    "OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L|||||F|||202603011000\r"
    "OBX|2|NM|19123-9^Magnesium^LN||1.5|mg/dL|||||F\r"
    "OBX|3|ST|2601-3^Magnesium^LN||hemoly\\T\\zed|mmol/L|||||C\r"
    "ZLW|1|x\r"
)
RDE = (
    "MSH|^~\\&|PH|H|LW|H|20260301075600||RDE^O11|M2|P|2.5.1\r"
    "PID|1||MRN0001\rPV1|1|I|4W^12^A\r"
    "ORC|NW|ORD77|||||||202603010755\rRXE||4603^Furosemide^RXNORM\rTQ1|1||||||202603010800|20260305\r"
    "ORC|DC|ORD78|||||||202603010755\rRXE||^Maxzide\r"
)
ADT = (
    "MSH|^~\\&|ADT|H|LW|H|20260301070100||ADT^A02|M3|P|2.5.1\r"
    "EVN|A02|202603010700\rPID|1||MRN0001\rPV1|1|I|ICU^3^B\r"
)
LAB = {
    "result_id": "R1",
    "patient_id": "MRN0001",
    "code": "2823-3",
    "value": 3.1,
    "unit": "mmol/L",
    "collected_at": "2026-03-01T10:00:00",
    "location": {"unit": "4W"},
}
ORDER = {
    "order_id": "O1",
    "patient_id": "MRN0001",
    "medication": {"display": "Lasix 40 mg"},
    "status": "active",
    "start": "2026-03-01T08:00:00",
    "recorded_at": "2026-03-01T07:55:00",
}
ACK = {"alert_id": "kmg-1", "patient_id": "MRN0001", "by": "u1", "at": "2026-03-01T12:05:00Z"}
OBSERVATION = {
    "resourceType": "Observation",
    "id": "obs-1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "19123-9"}]},
    "subject": {"reference": "Patient/MRN0001"},
    "effectiveDateTime": "2026-03-01T10:00:00+01:00",
    "valueQuantity": {"value": 1.5, "unit": "mg/dL"},
}
REQUEST = {
    "resourceType": "MedicationRequest",
    "id": "mr-1",
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {"coding": [{"code": "5487", "display": "hydrochlorothiazide"}]},
    "subject": {"reference": "Patient/MRN0001"},
    "authoredOn": "2026-03-01T07:30:00+01:00",
    "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2026-03-01T08:00:00Z"}}}}],
}
VALID: list[tuple[InputKind, bytes]] = [
    ("labs", ORU.encode()),
    ("orders", RDE.encode()),
    ("adt", ADT.encode()),
    ("labs", orjson.dumps(LAB)),
    ("orders", orjson.dumps(ORDER)),
    ("acks", orjson.dumps(ACK)),
    ("labs", orjson.dumps(OBSERVATION)),
    ("orders", orjson.dumps(REQUEST)),
]
JSON_DOCS: list[tuple[InputKind, dict[str, Any]]] = [
    ("labs", LAB),
    ("orders", ORDER),
    ("acks", ACK),
    ("labs", OBSERVATION),
    ("orders", REQUEST),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
hl7_text = st.text(alphabet="|^~\\&\r\nMSHPIDOBXRC0123456789.-+ FSTEXab", max_size=30)
PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(kind: InputKind, raw: bytes) -> None:
    """decode() either returns a Decoded whose events are valid shared-model events, or raises DecodeError."""
    try:
        decoded = decode(kind, raw, tz=TZ, mapping=DEFAULT_MAPPING)
    except DecodeError as exc:
        assert exc.detail and exc.reason
        # The safety net in decode() turns a crash into a dead letter; reaching it is still a bug.
        assert not exc.detail.startswith("internal decoder error"), exc.detail
        return
    assert isinstance(decoded, Decoded)
    for event in decoded.events:
        assert EVENT.validate_python(event.model_dump()) == event
        if isinstance(event, LabResults):
            assert all(r.value is not None for r in event.results if r.status.is_valid)


def test_the_valid_samples_decode() -> None:
    for kind, raw in VALID:
        decoded = decode(kind, raw, tz=TZ, mapping=DEFAULT_MAPPING)
        assert decoded.events, raw[:40]


@PROPS
@given(kind=st.sampled_from(KINDS), raw=st.binary(max_size=300))
def test_random_bytes(kind: InputKind, raw: bytes) -> None:
    check(kind, raw)


@PROPS
@given(
    sample=st.sampled_from(VALID),
    start=st.integers(0, 600),
    length=st.integers(0, 40),
    insert=st.binary(max_size=12) | hl7_text.map(str.encode),
)
def test_byte_mutations_of_valid_messages(
    sample: tuple[InputKind, bytes], start: int, length: int, insert: bytes
) -> None:
    kind, raw = sample
    start %= len(raw) + 1
    check(kind, raw[:start] + insert + raw[start + length :])


@PROPS
@given(sample=st.sampled_from(JSON_DOCS), data=st.data())
def test_json_field_mutations(sample: tuple[InputKind, dict[str, Any]], data: st.DataObject) -> None:
    kind, doc = sample
    doc = json.loads(json.dumps(doc))
    node: Any = doc
    # Walk to a random nested object, then replace, add or delete one of its keys.
    while True:
        keys = [k for k, v in node.items() if isinstance(v, dict)]
        if not keys or data.draw(st.booleans()):
            break
        node = node[data.draw(st.sampled_from(keys))]
    key = data.draw(st.sampled_from([*node.keys(), "extra"]))
    if data.draw(st.booleans()):
        node.pop(key, None)
    else:
        node[key] = data.draw(json_values)
    check(kind, json.dumps(doc).encode())


@PROPS
@given(sample=st.sampled_from(VALID[:3]), data=st.data())
def test_hl7_field_mutations(sample: tuple[InputKind, bytes], data: st.DataObject) -> None:
    kind, raw = sample
    segments = raw.decode().split("\r")
    i = data.draw(st.integers(0, len(segments) - 1))
    fields = segments[i].split("|")
    j = data.draw(st.integers(0, len(fields)))
    replacement = data.draw(hl7_text)
    if j == len(fields):
        fields.append(replacement)
    else:
        fields[j] = replacement
    segments[i] = "|".join(fields)
    check(kind, "\r".join(segments).encode())
