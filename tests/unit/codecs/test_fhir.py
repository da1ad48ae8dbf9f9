"""FHIR R4 inputs: Observation and MedicationRequest, status mappings and FHIR-specific errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.errors import DeadLetterReason
from alerts.models import Analyte, DrugClass, LabResults, MedicationOrder, OrderStatus, ResultStatus
from streams.codecs import Decoded
from streams.errors import DecodeError

Decode = Callable[..., Decoded]
Factory = Callable[..., dict[str, Any]]


def only_result(decoded: Decoded) -> Any:
    (event,) = decoded.events
    assert isinstance(event, LabResults)
    (result,) = event.results
    return result


def test_an_observation(decode_msg: Decode, observation: Factory) -> None:
    decoded = decode_msg("labs", observation())
    assert decoded.format == "fhir"
    mg = only_result(decoded)
    assert (mg.result_id, mg.patient_id, mg.encounter_id) == ("obs-mg-1", "MRN0001", "E42")
    assert (mg.analyte, mg.value, mg.sent_value, mg.sent_unit) == (Analyte.MAGNESIUM, 0.62, 1.5, "mg/dL")
    assert mg.collected_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert mg.resulted_at == datetime(2026, 3, 1, 9, 41, tzinfo=UTC)


def test_a_naive_effective_time_and_an_absolute_subject_url(decode_msg: Decode, observation: Factory) -> None:
    mg = only_result(
        decode_msg(
            "labs",
            observation(
                effectiveDateTime="2026-03-01T10:00:00",
                subject={"reference": "https://ehr.example/fhir/Patient/MRN0001/_history/3"},
            ),
        )
    )
    assert mg.collected_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert mg.patient_id == "MRN0001"


def test_the_watched_coding_is_found_among_several(decode_msg: Decode, observation: Factory) -> None:
    code = {
        "coding": [{"system": "urn:lab", "code": "K-SER"}, {"system": "http://loinc.org", "code": "2823-3"}]
    }
    k = only_result(
        decode_msg("labs", observation(code=code, valueQuantity={"value": 3.1, "code": "mmol/L"}))
    )
    assert (k.analyte, k.code, k.value) == (Analyte.POTASSIUM, "2823-3", 3.1)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("final", ResultStatus.FINAL),
        ("preliminary", ResultStatus.PRELIMINARY),
        ("amended", ResultStatus.CORRECTED),
        ("corrected", ResultStatus.CORRECTED),
        ("cancelled", ResultStatus.CANCELLED),
        ("entered-in-error", ResultStatus.ENTERED_IN_ERROR),
    ],
)
def test_observation_status(
    decode_msg: Decode, observation: Factory, status: str, expected: ResultStatus
) -> None:
    assert only_result(decode_msg("labs", observation(status=status))).status is expected


def test_a_registered_observation_or_another_test_is_ignored(
    decode_msg: Decode, observation: Factory
) -> None:
    decoded = decode_msg("labs", observation(status="registered", valueQuantity=None))
    assert (decoded.events, decoded.ignored) == ((), 1)
    sodium = {"coding": [{"system": "http://loinc.org", "code": "2951-2"}]}
    decoded = decode_msg("labs", observation(code=sodium, effectiveDateTime=None))
    assert (decoded.events, decoded.ignored, decoded.rejected) == ((), 1, ())


@pytest.mark.parametrize(
    ("overrides", "reason", "names"),
    [
        ({"subject": None}, DeadLetterReason.MISSING_PATIENT, "subject"),
        ({"subject": {"reference": "Group/7"}}, DeadLetterReason.MISSING_PATIENT, "subject"),
        ({"status": "done"}, DeadLetterReason.FHIR_INVALID, "status"),
        ({"status": None}, DeadLetterReason.FHIR_INVALID, "status"),
        ({"code": {"coding": "2823-3"}}, DeadLetterReason.FHIR_INVALID, "code.coding"),
        ({"id": None}, DeadLetterReason.FHIR_INVALID, "id"),
        ({"effectiveDateTime": None}, DeadLetterReason.FHIR_INVALID, "effectiveDateTime"),
        ({"effectiveDateTime": "2026-03-01"}, DeadLetterReason.FHIR_INVALID, "effectiveDateTime"),
        ({"valueQuantity": {"value": "high"}}, DeadLetterReason.FHIR_INVALID, "valueQuantity.value"),
        ({"valueQuantity": None, "valueString": "hemolyzed"}, DeadLetterReason.NON_NUMERIC_VALUE, "number"),
        ({"valueQuantity": {"value": 1.5, "unit": "mg"}}, DeadLetterReason.UNKNOWN_UNIT, "mg"),
        ({"valueQuantity": {"value": 15, "unit": "mg/dL"}}, DeadLetterReason.IMPLAUSIBLE_VALUE, "plausible"),
    ],
)
def test_observation_errors(
    decode_msg: Decode, observation: Factory, overrides: dict[str, Any], reason: DeadLetterReason, names: str
) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", observation(**overrides))
    assert err.value.reason is reason
    assert names in err.value.detail


def only_order(decoded: Decoded) -> MedicationOrder:
    (order,) = decoded.events
    assert isinstance(order, MedicationOrder)
    return order


def test_a_medication_request(decode_msg: Decode, medication_request: Factory) -> None:
    order = only_order(decode_msg("orders", medication_request()))
    assert (order.order_id, order.patient_id, order.status) == ("mr-1", "MRN0001", OrderStatus.ACTIVE)
    assert [(i.name, i.drug_class) for i in order.ingredients] == [
        ("hydrochlorothiazide", DrugClass.THIAZIDE)
    ]
    assert order.display == "Hydrochlorothiazide 25 mg tablet"
    assert order.start == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)  # boundsPeriod.start
    assert order.end is None
    assert order.recorded_at == datetime(2026, 3, 1, 6, 30, tzinfo=UTC)  # authoredOn


def test_a_stopped_request_uses_meta_last_updated_as_event_time(
    decode_msg: Decode, medication_request: Factory
) -> None:
    order = only_order(
        decode_msg(
            "orders",
            medication_request(
                status="stopped",
                meta={"lastUpdated": "2026-03-02T09:00:00Z"},
                dosageInstruction=[
                    {
                        "timing": {
                            "repeat": {
                                "boundsPeriod": {
                                    "start": "2026-03-01T08:00:00Z",
                                    "end": "2026-03-02T09:00:00Z",
                                }
                            }
                        }
                    }
                ],
            ),
        )
    )
    assert order.status is OrderStatus.STOPPED
    assert order.recorded_at == order.end == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("on-hold", OrderStatus.ON_HOLD),
        ("completed", OrderStatus.COMPLETED),
        ("cancelled", OrderStatus.CANCELLED),
        ("entered-in-error", OrderStatus.ENTERED_IN_ERROR),
    ],
)
def test_request_status(
    decode_msg: Decode, medication_request: Factory, status: str, expected: OrderStatus
) -> None:
    assert only_order(decode_msg("orders", medication_request(status=status))).status is expected


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "draft"},
        {"intent": "proposal"},
        {"medicationCodeableConcept": {"text": "Losartan Potassium 50 mg"}},
        {"medicationCodeableConcept": None, "medicationReference": {"reference": "Medication/9"}},
    ],
)
def test_requests_that_are_ignored(
    decode_msg: Decode, medication_request: Factory, overrides: dict[str, Any]
) -> None:
    decoded = decode_msg("orders", medication_request(**overrides))
    assert (decoded.events, decoded.ignored, decoded.rejected) == ((), 1, ())


def test_a_request_by_reference_display_and_start_from_authored_on(
    decode_msg: Decode, medication_request: Factory
) -> None:
    order = only_order(
        decode_msg(
            "orders",
            medication_request(
                medicationCodeableConcept=None,
                medicationReference={"reference": "Medication/9", "display": "Bumex 1 mg"},
                dosageInstruction=None,
            ),
        )
    )
    assert order.ingredients[0].name == "bumetanide"
    assert order.start == order.recorded_at == datetime(2026, 3, 1, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "reason", "names"),
    [
        ({"subject": None}, DeadLetterReason.MISSING_PATIENT, "subject"),
        ({"status": "paused"}, DeadLetterReason.FHIR_INVALID, "status"),
        ({"authoredOn": None, "dosageInstruction": None}, DeadLetterReason.FHIR_INVALID, "authoredOn"),
        ({"dosageInstruction": {"timing": 1}}, DeadLetterReason.FHIR_INVALID, "dosageInstruction"),
        ({"id": None}, DeadLetterReason.FHIR_INVALID, "id"),
    ],
)
def test_request_errors(
    decode_msg: Decode,
    medication_request: Factory,
    overrides: dict[str, Any],
    reason: DeadLetterReason,
    names: str,
) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("orders", medication_request(**overrides))
    assert err.value.reason is reason
    assert names in err.value.detail


@pytest.mark.parametrize(
    ("kind", "resource"),
    [
        ("labs", "MedicationRequest"),
        ("orders", "Observation"),
        ("labs", "Bundle"),
        ("adt", "Encounter"),
        ("acks", "Observation"),
    ],
)
def test_a_resource_on_the_wrong_topic_is_unsupported(decode_msg: Decode, kind: str, resource: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg(kind, {"resourceType": resource, "id": "x"})
    assert err.value.reason is DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE
