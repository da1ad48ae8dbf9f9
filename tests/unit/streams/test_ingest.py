"""One input message -> forwarded events, one dead letter, or an ignored count; never an exception."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from alerts.codes import DEFAULT_MAPPING
from streams.worker.envelope import MAX_EVENTS_PER_MESSAGE, Origin, decode_envelope, encode_envelope
from streams.worker.ingest import IngestOutcome, ingest_message

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ingest() -> Callable[..., IngestOutcome]:
    def run(kind: str, raw: bytes | dict[str, Any] | str, offset: int = 41) -> IngestOutcome:
        if isinstance(raw, dict):
            raw = orjson.dumps(raw)
        elif isinstance(raw, str):
            raw = raw.encode()
        origin = Origin(topic=f"in.{kind}", partition=3, offset=offset, timestamp_ms=1_700_000_000_000)
        return ingest_message(kind, raw, origin, key=b"k", tz=UTC, mapping=DEFAULT_MAPPING, now=NOW)  # type: ignore[arg-type]

    return run


def lab(**overrides: Any) -> dict[str, Any]:
    doc = {
        "result_id": "R1",
        "patient_id": "MRN-9",
        "code": "2823-3",
        "value": 3.2,
        "unit": "mmol/L",
        "collected_at": "2026-03-01T10:00:00Z",
    }
    doc.update(overrides)
    return doc


def oru(*obx: str) -> str:
    return "\r".join(
        [
            "MSH|^~\\&|LAB|H|LW|H|202603011000||ORU^R01|M1|P|2.5",
            "PID|1||MRN-9^^^H^MR",
            "OBR|1||F77|80048|||202603011000",
            *obx,
        ]
    )


def test_a_valid_result_is_forwarded_with_its_origin(ingest: Callable[..., IngestOutcome]) -> None:
    outcome = ingest("labs", lab())
    assert outcome.disposition == "used"
    (envelope,) = outcome.forward
    assert envelope.event.patient_id == "MRN-9"
    assert (envelope.origin.topic, envelope.origin.partition, envelope.origin.offset) == ("in.labs", 3, 41)
    assert decode_envelope(encode_envelope(envelope)) == envelope
    assert outcome.deadletters == ()


def test_an_unwatched_test_is_ignored_not_dead_lettered(ingest: Callable[..., IngestOutcome]) -> None:
    outcome = ingest("labs", lab(code="2951-2", unit="mmol/L", value=140))  # sodium
    assert outcome.disposition == "ignored"
    assert outcome.forward == () and outcome.deadletters == ()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x01 binary", "not_json"),
        (lab(value="hemolyzed"), "non_numeric_value"),
        (lab(unit="furlongs"), "unknown_unit"),
        (lab(value=31.0), "implausible_value"),
        ({"result_id": "R1", "code": "2823-3", "value": 3.1, "unit": "mmol/L"}, "missing_patient"),
        (
            {"result_id": "R1", "patient_id": "MRN-9", "code": "2823-3", "value": 3.1, "unit": "mmol/L"},
            "schema_error",
        ),
    ],
)
def test_bad_input_becomes_one_dead_letter_keeping_the_bytes(
    ingest: Callable[..., IngestOutcome], raw: Any, reason: str
) -> None:
    outcome = ingest("labs", raw)
    assert outcome.disposition == "deadlettered"
    ((why, record),) = outcome.deadletters
    assert why.value == reason
    doc = orjson.loads(record)
    assert doc["reason"] == reason
    assert (doc["topic"], doc["partition"], doc["offset"]) == ("in.labs", 3, 41)
    sent = raw if isinstance(raw, bytes) else orjson.dumps(raw)
    assert base64.b64decode(doc["raw"]) == sent
    assert doc["detail"]


def test_a_partly_bad_panel_forwards_the_good_result_and_dead_letters_the_message_once(
    ingest: Callable[..., IngestOutcome],
) -> None:
    outcome = ingest(
        "labs",
        oru(
            "OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L|||||F|||202603011000",
            "OBX|2|ST|19123-9^Magnesium^LN||hemolyzed|mg/dL|||||F|||202603011000",
            "OBX|3|ST|2601-3^Magnesium^LN||n/a|mmol/L|||||F|||202603011000",
        ),
    )
    assert outcome.disposition == "used"
    (envelope,) = outcome.forward
    assert [r.analyte.value for r in envelope.event.results] == ["potassium"]  # type: ignore[union-attr]
    ((why, record),) = outcome.deadletters
    assert why.value == "non_numeric_value"
    assert orjson.loads(record)["detail"].endswith("(and 1 more)")


def rde_with_groups(n: int) -> str:
    groups = [f"ORC|NW|ORD{i}|||||||202603010755\rRXE||4603^Furosemide^RXNORM" for i in range(n)]
    return "\r".join(["MSH|^~\\&|PH|H|LW|H|20260301075600||RDE^O11|M2|P|2.5.1", "PID|1||MRN-9", *groups])


def test_an_order_message_with_as_many_groups_as_positions_allow_is_forwarded(
    ingest: Callable[..., IngestOutcome],
) -> None:
    outcome = ingest("orders", rde_with_groups(MAX_EVENTS_PER_MESSAGE))

    assert outcome.disposition == "used"
    assert [e.origin.index for e in outcome.forward] == list(range(MAX_EVENTS_PER_MESSAGE))


def test_an_order_message_with_more_groups_than_positions_is_dead_lettered_whole(
    ingest: Callable[..., IngestOutcome],
) -> None:
    # Its events would take positions of the next message, which would then be skipped as a re-delivery.
    outcome = ingest("orders", rde_with_groups(MAX_EVENTS_PER_MESSAGE + 1))

    assert outcome.disposition == "deadlettered"
    assert outcome.forward == ()
    ((why, record),) = outcome.deadletters
    assert why.value == "too_many_events"
    assert "1025 events" in orjson.loads(record)["detail"]
