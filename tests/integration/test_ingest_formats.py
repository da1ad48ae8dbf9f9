"""Every input format through the real broker: valid messages reach patient-events, invalid ones are
dead-lettered with the right reason, irrelevant ones are counted, and the counts add up."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.worker.envelope import decode_envelope
from tests.support.kafka import consume, produce
from tests.support.processes import WorkerEnv, http_get, running_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def er7(*segments: str) -> bytes:
    return "\r".join(segments).encode()


def msh(kind: str, n: int) -> str:
    return f"MSH|^~\\&|SRC|HOSP|LYTEWATCH|HOSP|20260301104500||{kind}|MSG{n}|P|2.5.1"


def native_lab(pid: str, rid: str, **over: Any) -> bytes:
    doc = {
        "result_id": rid,
        "patient_id": pid,
        "code": "2823-3",
        "value": 3.2,
        "unit": "mmol/L",
        "collected_at": "2026-03-01T10:00:00Z",
    }
    doc.update(over)
    return orjson.dumps(doc)


def observation(pid: str, **over: Any) -> bytes:
    doc: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"obs-{pid}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "19123-9"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-03-01T10:00:00Z",
        "valueQuantity": {"value": 1.5, "unit": "mg/dL"},
    }
    doc.update(over)
    return orjson.dumps({k: v for k, v in doc.items() if v is not None})


# (topic key, raw bytes, expected outcome: "used", "ignored" or a dead-letter reason)
CASES: list[tuple[str, bytes, str]] = [
    ("labs", native_lab("F-1", "R1"), "used"),
    (
        "labs",
        er7(
            msh("ORU^R01", 1),
            "PID|1||F-2^^^H^MR~99^^^SSA^SS",
            "OBR|1||FIL9|80048|||202603011000",
            "OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L|||||F|||202603011000",
            "OBX|2|NM|19123-9^Magnesium^LN||1.4|mg/dL|||||F|||202603011000",
            "OBX|3|NM|2951-2^Sodium^LN||139|mmol/L|||||F|||202603011000",
            "ZLW|1|local",
        ),
        "used",
    ),
    ("labs", observation("F-3"), "used"),
    (
        "orders",
        orjson.dumps(
            {
                "order_id": "O1",
                "patient_id": "F-4",
                "medication": {"display": "Lasix 40 mg"},
                "status": "active",
                "start": "2026-03-01T08:00:00Z",
                "recorded_at": "2026-03-01T08:00:00Z",
            }
        ),
        "used",
    ),
    (
        "orders",
        er7(
            msh("RDE^O11^RDE_O11", 2),
            "PID|1||F-5^^^H^MR",
            "ORC|NW|ORD5||||||||202603010755",
            "RXE||4603^Furosemide 40 mg IV^RXNORM|40||mg",
            "TQ1|1||||||202603010800|",
        ),
        "used",
    ),
    (
        "orders",
        orjson.dumps(
            {
                "resourceType": "MedicationRequest",
                "id": "mr-6",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": "5487"}],
                    "text": "HCTZ 25 mg",
                },
                "subject": {"reference": "Patient/F-6"},
                "authoredOn": "2026-03-01T07:30:00Z",
                "dosageInstruction": [
                    {"timing": {"repeat": {"boundsPeriod": {"start": "2026-03-01T08:00:00Z"}}}}
                ],
            }
        ),
        "used",
    ),
    (
        "adt",
        orjson.dumps(
            {
                "patient_id": "F-7",
                "event": "admit",
                "location": {"unit": "4W", "bed": "2"},
                "occurred_at": "2026-03-01T06:00:00Z",
            }
        ),
        "used",
    ),
    (
        "adt",
        er7(
            msh("ADT^A03^ADT_A03", 3),
            "EVN|A03|202603011800",
            "PID|1||F-8^^^H^MR",
            "PV1|1|I|4W^12^A||||||||||||||||E8",
        ),
        "used",
    ),
    (
        "acks",
        orjson.dumps(
            {"alert_id": "kmg-x", "patient_id": "F-9", "by": "rn.lee", "at": "2026-03-01T11:00:00Z"}
        ),
        "used",
    ),
    ("labs", native_lab("F-10", "R10", code="2951-2", value=139), "ignored"),
    # Potassium under a code-system spelling nobody knows: ignored, under its own reason.
    ("labs", native_lab("F-10", "R10b", system="http://loinc.org/fhir"), "ignored"),
    (
        "orders",
        orjson.dumps(
            {
                "order_id": "O11",
                "patient_id": "F-11",
                "medication": {"display": "Lisinopril 10 mg"},
                "status": "active",
                "start": "2026-03-01T08:00:00Z",
                "recorded_at": "2026-03-01T08:00:00Z",
            }
        ),
        "ignored",
    ),
    ("labs", b"\xff\xfe not anything", "not_json"),
    ("labs", b"MSH|^~\\&|broken\rPI D|||", "hl7_parse_error"),
    ("labs", er7(msh("SIU^S12", 4), "PID|1||F-14^^^H^MR"), "unsupported_message_type"),
    ("labs", observation("F-15", valueQuantity={"value": "lots", "unit": "mg/dL"}), "fhir_invalid"),
    ("labs", native_lab("F-16", "R16", value="hemolyzed"), "non_numeric_value"),
    ("labs", native_lab("F-17", "R17", unit="g/L"), "unknown_unit"),
    ("labs", native_lab("F-18", "R18", value=42.0), "implausible_value"),
    (
        "orders",
        orjson.dumps(
            {
                "order_id": "O19",
                "medication": {"display": "Lasix"},
                "status": "active",
                "start": "2026-03-01T08:00:00Z",
                "recorded_at": "2026-03-01T08:00:00Z",
            }
        ),
        "missing_patient",
    ),
    (
        "adt",
        orjson.dumps({"patient_id": "F-20", "event": "teleport", "occurred_at": "2026-03-01T06:00:00Z"}),
        "schema_error",
    ),
    # Hostile text (issue 10): ids and free text over the limits of streams/codecs/limits.py.
    (
        "adt",
        er7(
            msh("ADT^A02^ADT_A02", 5),
            "EVN|A02|202603011200",
            "PID|1||F-21^^^H^MR",
            "PV1|1|I|4W\\X0D0A\\Bcc: x^12^1||||||||||||||||E21",  # HL7 escape that decodes to CRLF
        ),
        "schema_error",
    ),
    ("labs", native_lab("MRN\u202e0021", "R22"), "schema_error"),
    ("labs", native_lab("F-23", "R23", location={"unit": "W" * 50_000}), "schema_error"),
    (
        "acks",
        orjson.dumps(
            {"alert_id": "kmg-x", "patient_id": "F-24", "by": "rn\r\nX", "at": "2026-03-01T11:00:00Z"}
        ),
        "schema_error",
    ),
]


def metric_sum(body: str, name: str, *, skip: str = "$^") -> float:
    """The sum of every series of `name`, leaving out series whose labels match the regex `skip`."""
    found = re.findall(rf"^{name}{{([^}}]*)}} (\S+)$", body, re.MULTILINE)
    return sum(float(v) for labels, v in found if not re.search(skip, labels))


# The engine, not ingest, counts an ack that changes nothing; ingest forwarded it (used).
_ENGINE_IGNORED = 'reason="ack_changes_nothing"'


def _engine_ignored_acks(url: str) -> float:
    _, body = http_get(f"{url}/metrics")
    return metric_sum(body.decode(), "lytewatch_ignored_total", skip=r'reason="(?!ack_changes_nothing)')


def test_every_format_is_used_ignored_or_dead_lettered_and_the_counts_add_up(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    expected = Counter(outcome for _, _, outcome in CASES)
    used = expected["used"]
    dead = len(CASES) - used - expected["ignored"]
    with running_worker(env, tmp_path / "worker.log") as worker:
        for topic_key in ("labs", "orders", "adt", "acks"):
            messages = [(b"any", raw) for key, raw, _ in CASES if key == topic_key]
            asyncio.run(produce(env.bootstrap, env.topics[topic_key], messages))
        forwarded = asyncio.run(
            consume(env.bootstrap, env.topics["patient_events"], expected=used, timeout=60)
        )
        dead_letters = asyncio.run(
            consume(env.bootstrap, env.topics["deadletter"], expected=dead, timeout=60)
        )
        # The ack names an alert nobody has: the engine ignores it.
        eventually(lambda: _engine_ignored_acks(env.url) >= 1, "the engine to count the ack as ignored")
        ignored_acks = _engine_ignored_acks(env.url)
        _, metrics = http_get(f"{env.url}/metrics")
        assert worker.popen.poll() is None

    patients = sorted(decode_envelope(r.value).event.patient_id for r in forwarded)  # type: ignore[union-attr]
    assert patients == sorted(f"F-{n}" for n in range(1, 10))
    labs_event = next(decode_envelope(r.value) for r in forwarded if r.key == b"F-2")
    assert len(labs_event.event.results) == 2  # type: ignore[union-attr]  # K and Mg; sodium ignored

    reasons = Counter(orjson.loads(r.value)["reason"] for r in dead_letters)
    assert reasons == Counter({o: n for o, n in expected.items() if o not in ("used", "ignored")})

    text = metrics.decode()
    assert metric_sum(text, "lytewatch_input_messages_total") == len(CASES)
    assert metric_sum(text, "lytewatch_ignored_total", skip=_ENGINE_IGNORED) == expected["ignored"]
    assert ignored_acks == 1
    assert metric_sum(text, "lytewatch_ignored_total", skip=r'reason="(?!unknown_code_system)') == 1
    assert metric_sum(text, "lytewatch_deadletter_total") == dead
    assert metric_sum(text, "lytewatch_input_used_total") == used
    whole = sum(
        float(v)
        for v in re.findall(r'^lytewatch_deadletter_total{[^}]*stage="ingest"[^}]*} (\S+)$', text, re.M)
    )
    assert metric_sum(text, "lytewatch_input_messages_total") == used + expected["ignored"] + whole
    assert len(forwarded) + dead + expected["ignored"] == len(CASES)
