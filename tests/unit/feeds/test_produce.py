"""Producer helpers without a broker: message keys and value encoding."""

from __future__ import annotations

import orjson
import pytest

from streams.feeds.produce import encode_value, envelope_key, produce_envelopes, topics_from_settings
from streams.settings import load_settings


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"patient_id": "MRN1", "result_id": "R1"}, b"MRN1"),
        ({"patient_id": 1234}, b"1234"),
        ({"resourceType": "Observation", "subject": {"reference": "Patient/P7"}}, b"P7"),
        ({"resourceType": "Observation", "subject": {"reference": "https://h.org/fhir/Patient/P8"}}, b"P8"),
        ({"resourceType": "Observation", "subject": {"reference": "Group/G1"}}, None),
        ("MSH|^~\\&|LAB|H|X|H|20250106||ORU^R01|1|P|2.5.1\rPID|1||MRN42~OTHER^^^H^MR\rOBX|1", b"MRN42"),
        ("MSH|^~\\&|LAB|H|X|H|20250106||ORU^R01|1|P|2.5.1\nPID|1||MRN43^^^H^MR", b"MRN43"),
        ("MSH|^~\\&|LAB|H|X|H|20250106||ORU^R01|1|P|2.5.1\rOBX|1", None),
        ("MSH||LAB|H|X|H|20250106||ORU^R01|1|P|2.5.1\rPID|1||MRN44", None),
        ('{"patient_id": "MRN1", "res', None),
        ({"result_id": "R1"}, None),
    ],
)
def test_messages_are_keyed_by_patient(value: object, key: bytes | None) -> None:
    assert envelope_key({"topic": "labs.results", "value": value}) == key


def test_a_custom_key_field() -> None:
    envelope = {"topic": "alerts.acks", "value": {"alert_id": "kmg-1", "patient_id": "P1", "by": "u"}}
    assert envelope_key(envelope, "alert_id") == b"kmg-1"


def test_hl7_goes_as_text_and_objects_as_compact_json() -> None:
    assert encode_value("MSH|^~\\&|é") == "MSH|^~\\&|é".encode()
    assert orjson.loads(encode_value({"a": 1.5, "b": None})) == {"a": 1.5, "b": None}


def test_topics_follow_the_settings() -> None:
    topics = topics_from_settings(load_settings({"LYTEWATCH_TOPIC_LABS": "site1.labs"}))
    assert topics["labs.results"] == "site1.labs" and topics["meds.orders"] == "meds.orders"


async def _produce(**kwargs: object) -> None:
    await produce_envelopes("127.0.0.1:1", [], {}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"rate": 0.0}, "rate"), ({"rate": 10.0, "time_scale": 60.0}, "either")]
)
def test_bad_pacing_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    import asyncio

    with pytest.raises(ValueError, match=message):
        asyncio.run(_produce(**kwargs))
