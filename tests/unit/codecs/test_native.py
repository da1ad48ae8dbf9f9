"""Native JSON inputs of EVENTS.md: labs, orders, ADT and acks, and their dead-letter reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.codes import build_mapping
from alerts.errors import DeadLetterReason
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    AdtKind,
    Analyte,
    DrugClass,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    ResultStatus,
)
from streams.codecs import Decoded
from streams.errors import DecodeError

from .conftest import BERLIN

Decode = Callable[..., Decoded]
Factory = Callable[..., dict[str, Any]]


def only_result(decoded: Decoded) -> Any:
    (event,) = decoded.events
    assert isinstance(event, LabResults)
    (result,) = event.results
    return result


def test_a_potassium_result_is_normalised(decode_msg: Decode, lab_json: Factory) -> None:
    decoded = decode_msg("labs", lab_json())
    assert decoded.format == "json" and decoded.ignored == 0 and decoded.rejected == ()
    result = only_result(decoded)
    assert result.analyte is Analyte.POTASSIUM
    assert (result.result_id, result.patient_id, result.encounter_id) == ("R1", "MRN0001", "E42")
    assert (result.value, result.sent_value, result.sent_unit) == (3.1, 3.1, "mmol/L")
    assert result.location == Location(unit="4W", room="12", bed="A")
    # The serialised event validates against the shared model (the codec builds it without re-validating).
    assert LabResults.model_validate(decoded.events[0].model_dump()) == decoded.events[0]


def test_a_naive_timestamp_is_read_in_the_hospital_zone_and_an_offset_is_kept(
    decode_msg: Decode, lab_json: Factory
) -> None:
    result = only_result(decode_msg("labs", lab_json()))
    assert result.collected_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin (CET)
    assert result.collected_at.tzinfo is BERLIN
    assert result.resulted_at.utcoffset() == timedelta(hours=1)
    result = only_result(decode_msg("labs", lab_json(collected_at="2026-03-01T10:00:00Z")))
    assert result.collected_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_magnesium_in_mg_per_dl_by_mimic_itemid_as_a_number(decode_msg: Decode, lab_json: Factory) -> None:
    result = only_result(decode_msg("labs", lab_json(code=50960, system=None, value=1.7, unit="mg/dL")))
    assert (result.analyte, result.code, result.value, result.sent_value) == (
        Analyte.MAGNESIUM,
        "50960",
        0.7,
        1.7,
    )


def test_unknown_extra_fields_are_ignored(decode_msg: Decode, lab_json: Factory) -> None:
    result = only_result(decode_msg("labs", lab_json(reference_range="3.5-5.1", flags=["L"])))
    assert result.value == 3.1


def test_an_unwatched_test_is_ignored_not_rejected(decode_msg: Decode, lab_json: Factory) -> None:
    decoded = decode_msg("labs", lab_json(code="2951-2", value=140))
    assert (decoded.events, decoded.ignored, decoded.rejected) == ((), 1, ())


def test_a_cancellation_needs_no_value(decode_msg: Decode, lab_json: Factory) -> None:
    result = only_result(decode_msg("labs", lab_json(status="cancelled", value=None, unit=None)))
    assert (result.status, result.value) == (ResultStatus.CANCELLED, None)


@pytest.mark.parametrize(
    ("overrides", "reason", "names"),
    [
        ({"value": "hemolyzed"}, DeadLetterReason.NON_NUMERIC_VALUE, "not a number"),
        ({"value": "<1.0"}, DeadLetterReason.NON_NUMERIC_VALUE, "not a number"),
        ({"value": None}, DeadLetterReason.NON_NUMERIC_VALUE, "no value"),
        ({"unit": "mg/dL"}, DeadLetterReason.UNKNOWN_UNIT, "mg/dL"),
        ({"unit": None}, DeadLetterReason.UNKNOWN_UNIT, "no unit"),
        ({"value": 31}, DeadLetterReason.IMPLAUSIBLE_VALUE, "plausible"),
        ({"patient_id": None}, DeadLetterReason.MISSING_PATIENT, "patient_id"),
        ({"patient_id": "  "}, DeadLetterReason.MISSING_PATIENT, "patient_id"),
        ({"collected_at": None}, DeadLetterReason.SCHEMA_ERROR, "collected_at"),
        ({"collected_at": "yesterday"}, DeadLetterReason.SCHEMA_ERROR, "collected_at"),
        ({"collected_at": "2026-03-01"}, DeadLetterReason.SCHEMA_ERROR, "collected_at"),
        ({"status": "done"}, DeadLetterReason.SCHEMA_ERROR, "status"),
        ({"result_id": None}, DeadLetterReason.SCHEMA_ERROR, "result_id"),
        ({"location": "4W"}, DeadLetterReason.SCHEMA_ERROR, "location"),
    ],
)
def test_unusable_results_raise_with_a_reason_naming_the_problem(
    decode_msg: Decode, lab_json: Factory, overrides: dict[str, Any], reason: DeadLetterReason, names: str
) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", lab_json(**overrides))
    assert err.value.reason is reason
    assert names in err.value.detail


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json at all", DeadLetterReason.NOT_JSON),
        (b'{"result_id": "R1", ', DeadLetterReason.NOT_JSON),
        (b"\xff\xfe{}", DeadLetterReason.NOT_JSON),
        (b"[1, 2]", DeadLetterReason.SCHEMA_ERROR),
        (b'"a string"', DeadLetterReason.SCHEMA_ERROR),
    ],
)
def test_bytes_that_are_not_a_json_object(decode_msg: Decode, raw: bytes, reason: DeadLetterReason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", raw)
    assert err.value.reason is reason


def test_an_order_of_a_watched_drug(decode_msg: Decode, order_json: Factory) -> None:
    decoded = decode_msg("orders", order_json(end="2026-03-03T08:00:00+01:00"))
    (order,) = decoded.events
    assert isinstance(order, MedicationOrder)
    assert (order.order_id, order.status, order.code) == ("O1", OrderStatus.ACTIVE, "4603")
    assert [(i.name, i.drug_class) for i in order.ingredients] == [("furosemide", DrugClass.LOOP)]
    assert order.start == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert order.end == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert order.recorded_at == datetime(2026, 3, 1, 6, 55, tzinfo=UTC)


def test_an_order_without_code_is_classified_by_name(decode_msg: Decode, order_json: Factory) -> None:
    (order,) = decode_msg("orders", order_json(medication={"display": "Maxzide 37.5-25 mg"})).events
    assert isinstance(order, MedicationOrder)
    assert {i.drug_class for i in order.ingredients} == {DrugClass.POTASSIUM_SPARING, DrugClass.THIAZIDE}


def test_an_order_of_another_drug_is_ignored(decode_msg: Decode, order_json: Factory) -> None:
    decoded = decode_msg("orders", order_json(medication={"display": "Losartan Potassium 50 mg"}))
    assert (decoded.events, decoded.ignored, decoded.rejected) == ((), 1, ())


def test_a_local_medication_name_from_the_mapping(decode_msg: Decode, order_json: Factory) -> None:
    mapping = build_mapping({"medications": {"furomide": "loop"}})
    (order,) = decode_msg("orders", order_json(medication={"display": "Furomide 20"}), mapping=mapping).events
    assert isinstance(order, MedicationOrder)
    assert order.ingredients[0].drug_class is DrugClass.LOOP


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"status": "draft"}, "status"),
        ({"start": None}, "start"),
        ({"recorded_at": "soon"}, "recorded_at"),
        ({"medication": {}}, "medication"),
        ({"medication": "furosemide"}, "medication"),
    ],
)
def test_order_schema_errors_name_the_field(
    decode_msg: Decode, order_json: Factory, overrides: dict[str, Any], names: str
) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("orders", order_json(**overrides))
    assert err.value.reason is DeadLetterReason.SCHEMA_ERROR
    assert names in err.value.detail


def test_adt_and_ack(decode_msg: Decode) -> None:
    (adt,) = decode_msg(
        "adt",
        {
            "patient_id": "MRN0001",
            "encounter_id": "E42",
            "event": "transfer",
            "location": {"unit": "ICU", "room": 3, "bed": "B"},
            "occurred_at": "2026-03-01T12:00:00+01:00",
        },
    ).events
    assert isinstance(adt, AdtEvent)
    assert (adt.event, adt.location) == (AdtKind.TRANSFER, Location(unit="ICU", room="3", bed="B"))
    (ack,) = decode_msg(
        "acks", {"alert_id": "kmg-1", "patient_id": "MRN0001", "by": "dr.who", "at": "2026-03-01T12:05:00"}
    ).events
    assert isinstance(ack, Acknowledgement)
    assert (ack.by, ack.note, ack.at.tzinfo) == ("dr.who", None, BERLIN)


def test_a_lab_message_sent_to_the_adt_topic_is_a_schema_error(decode_msg: Decode, lab_json: Factory) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("adt", lab_json())
    assert err.value.reason is DeadLetterReason.SCHEMA_ERROR
