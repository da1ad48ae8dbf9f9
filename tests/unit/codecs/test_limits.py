"""Ids and free text over the limits (length, control and bidi characters) are schema_error dead letters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from alerts.errors import DeadLetterReason
from alerts.models import Acknowledgement, AdtEvent, LabResults
from streams.codecs import Decoded
from streams.codecs.limits import within_limits
from streams.errors import DecodeError

Decode = Callable[..., Decoded]
Factory = Callable[..., Any]

ACK = {
    "alert_id": "kmg-1",
    "patient_id": "MRN0001",
    "by": "rn7",
    "at": "2026-03-01T10:00:00+01:00",
    "note": "seen",
}


def rejected(decode_msg: Decode, kind: str, raw: Any) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_msg(kind, raw)
    assert caught.value.reason is DeadLetterReason.SCHEMA_ERROR
    return caught.value


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("location", {"unit": "4W\r\nBcc: x@example.org"}, "location.unit: control or bidi character U+000D"),
        ("location", {"unit": "W" * 50_000}, "location.unit: 50000 characters, at most 64"),
        ("location", {"unit": "4W", "bed": "A\u2028B"}, "location.bed: control or bidi character U+2028"),
        ("patient_id", "MRN\u202e0021", "patient_id: control or bidi character U+202E at position 3"),
        ("patient_id", "M" * 101, "patient_id: 101 characters, at most 100"),
        ("encounter_id", "E\x0042", "encounter_id: control or bidi character U+0000"),
    ],
)
def test_native_lab_fields_over_the_limits(
    decode_msg: Decode, lab_json: Factory, field: str, value: Any, detail: str
) -> None:
    error = rejected(decode_msg, "labs", lab_json(**{field: value}))
    assert detail in error.detail
    assert "Bcc" not in error.detail and "0021" not in error.detail  # the value itself is never quoted


def test_hl7_escape_that_decodes_to_crlf_in_the_location_is_rejected(
    decode_msg: Decode, adt: Factory
) -> None:
    # The finding: PV1|1|I|4W\X0D0A\Bcc: x^12^1 decodes to CRLF inside the unit.
    error = rejected(decode_msg, "adt", adt(pv1_3="4W\\X0D0A\\Bcc: x^12^1"))
    assert error.detail.startswith("location.unit: control or bidi character U+000D")


def test_hl7_patient_id_with_a_right_to_left_override_is_rejected(decode_msg: Decode, oru: Factory) -> None:
    message = oru(("2823-3^Potassium^LN", "3.1", "mmol/L", "F"), pid3="MRN\u202e0021^^^HOSP^MR")
    assert "patient_id: control or bidi character U+202E" in rejected(decode_msg, "labs", message).detail


def test_fhir_subject_with_a_bidi_isolate_is_rejected(decode_msg: Decode, observation: Factory) -> None:
    error = rejected(decode_msg, "labs", observation(subject={"reference": "Patient/MRN\u20660021"}))
    assert "patient_id: control or bidi character U+2066" in error.detail


def test_a_drug_display_too_long_is_rejected(decode_msg: Decode, order_json: Factory) -> None:
    medication = {
        "code": "4603",
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "display": "x" * 201,
    }
    assert (
        "display: 201 characters" in rejected(decode_msg, "orders", order_json(medication=medication)).detail
    )


def test_an_ack_by_with_a_line_break_is_rejected_but_a_note_may_have_lines(decode_msg: Decode) -> None:
    assert (
        "by: control or bidi character U+000D"
        in rejected(decode_msg, "acks", ACK | {"by": "rn7\r\nX"}).detail
    )
    decoded = decode_msg("acks", ACK | {"note": "K re-drawn.\nMg given 2 g IV.\tOK"})
    [ack] = decoded.events
    assert isinstance(ack, Acknowledgement)
    assert "by: control or bidi" in rejected(decode_msg, "acks", ACK | {"by": "Dr\u200f Who"}).detail
    assert (
        "note: control or bidi character U+202E"
        in rejected(decode_msg, "acks", ACK | {"note": "ok\u202e"}).detail
    )


def test_one_result_over_a_limit_is_rejected_and_the_others_still_go_through(
    decode_msg: Decode, oru: Factory
) -> None:
    decoded = decode_msg(
        "labs",
        oru(("2823-3^Potassium^LN", "3.1", "mmol/L", "F"), ("19123-9^Magnesium^LN", "1.5", "mg/dL", "F")),
    )
    [labs] = decoded.events
    assert isinstance(labs, LabResults)
    bad = labs.results[1].model_copy(update={"result_id": "FIL200\u202e"})
    limited = within_limits(
        replace(decoded, events=(labs.model_copy(update={"results": (labs.results[0], bad)}),))
    )
    [kept] = limited.events
    assert isinstance(kept, LabResults)
    assert [r.analyte.value for r in kept.results] == ["potassium"]
    [why] = limited.rejected
    assert "results[1].result_id: control or bidi character U+202E" in str(why)


def test_ordinary_names_in_any_script_pass(decode_msg: Decode, adt: Factory, lab_json: Factory) -> None:
    [event] = decode_msg("adt", adt(pv1_3="Station Süd^Zimmer 3^Bett 2")).events
    assert isinstance(event, AdtEvent)
    assert event.location is not None and event.location.unit == "Station Süd"
    [labs] = decode_msg("labs", lab_json(location={"unit": "内科 4", "bed": "ب-2"})).events
    assert isinstance(labs, LabResults)
