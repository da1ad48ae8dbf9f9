"""The dead-letter record of EVENTS.md: every field, the original bytes recoverable from base64."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from alerts.errors import DeadLetterReason
from streams.codecs import deadletter_bytes, deadletter_record

AT = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)


def test_the_record_carries_every_field_and_the_raw_bytes() -> None:
    raw = b"MSH|^~\\&|LAB\r\xff\x00 binary tail"
    record = deadletter_record(
        topic="labs.results",
        partition=3,
        offset=1234,
        key=b"MRN0001",
        raw=raw,
        reason=DeadLetterReason.HL7_PARSE_ERROR,
        detail="segment 2: 'PI D' is not a segment name",
        at=AT,
    )
    assert record == {
        "topic": "labs.results",
        "partition": 3,
        "offset": 1234,
        "key": "MRN0001",
        "raw": base64.b64encode(raw).decode(),
        "reason": "hl7_parse_error",
        "detail": "segment 2: 'PI D' is not a segment name",
        "at": "2026-03-01T10:00:05+00:00",
    }
    assert base64.b64decode(record["raw"]) == raw


@pytest.mark.parametrize(
    ("key", "expected"),
    [(None, None), ("MRN0001", "MRN0001"), (b"\xff\xfe", "base64:" + base64.b64encode(b"\xff\xfe").decode())],
)
def test_keys(key: bytes | str | None, expected: str | None) -> None:
    record = deadletter_record(
        topic="t", partition=0, offset=0, key=key, raw=b"", reason="not_json", detail="d", at=AT
    )
    assert record["key"] == expected


def test_an_unknown_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="bogus"):
        deadletter_record(
            topic="t", partition=0, offset=0, key=None, raw=b"", reason="bogus", detail="", at=AT
        )


def test_bytes_form_is_the_json_of_the_record() -> None:
    fields = {
        "topic": "meds.orders",
        "partition": 0,
        "offset": 7,
        "key": None,
        "raw": b"{}",
        "reason": DeadLetterReason.SCHEMA_ERROR,
        "detail": "field order_id: Field required",
        "at": AT,
    }
    assert orjson.loads(deadletter_bytes(**fields)) == deadletter_record(**fields)  # type: ignore[arg-type]
