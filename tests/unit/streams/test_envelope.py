"""The internal patient-events encoding: every event the decoders can produce comes back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alerts.codes import DEFAULT_MAPPING
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    AdtKind,
    Analyte,
    DrugClass,
    Ingredient,
    LabResult,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    ResultStatus,
)
from streams.codecs import decode
from streams.worker.envelope import (
    MAX_EVENTS_PER_MESSAGE,
    Origin,
    PatientEnvelope,
    decode_envelope,
    encode_envelope,
    new_envelope,
    new_origin,
)

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(min_size=1, max_size=12)
maybe_text = st.none() | text
# Offsets as the HL7 and FHIR decoders keep them (fixed offsets), and UTC.
zones = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))])
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones)
values = st.floats(min_value=0.01, max_value=99.99, allow_nan=False).map(lambda v: round(v, 2))
locations = st.none() | st.builds(Location, unit=maybe_text, room=maybe_text, bed=maybe_text)


@st.composite
def lab_results(draw: st.DrawFn) -> LabResults:
    patient = draw(text)

    def one() -> LabResult:
        status = draw(st.sampled_from(ResultStatus))
        # A cancelled or entered-in-error result may come without a value: the case that was lost.
        value = draw(values) if status.is_valid else draw(st.none() | values)
        return LabResult(
            result_id=draw(text),
            patient_id=patient,
            encounter_id=draw(maybe_text),
            analyte=draw(st.sampled_from(Analyte)),
            code=draw(text),
            status=status,
            value=value,
            sent_value=draw(st.none() | values),
            sent_unit=draw(maybe_text),
            collected_at=draw(instants),
            resulted_at=draw(st.none() | instants),
            location=draw(locations),
        )

    return LabResults(patient_id=patient, results=tuple(one() for _ in range(draw(st.integers(1, 4)))))


orders = st.builds(
    MedicationOrder,
    order_id=text,
    patient_id=text,
    encounter_id=maybe_text,
    display=text,
    code=maybe_text,
    system=maybe_text,
    ingredients=st.lists(
        st.builds(Ingredient, name=text, drug_class=st.sampled_from(DrugClass)), min_size=1, max_size=3
    ).map(tuple),
    status=st.sampled_from(OrderStatus),
    start=instants,
    end=st.none() | instants,
    recorded_at=instants,
)
adts = st.builds(
    AdtEvent,
    patient_id=text,
    encounter_id=maybe_text,
    event=st.sampled_from(AdtKind),
    location=locations,
    occurred_at=instants,
)
acks = st.builds(Acknowledgement, alert_id=text, patient_id=text, by=text, at=instants, note=maybe_text)
origins = st.builds(
    Origin,
    topic=text,
    partition=st.integers(0, 1023),
    offset=st.integers(0, 2**62),
    index=st.integers(0, MAX_EVENTS_PER_MESSAGE - 1),
    timestamp_ms=st.none() | st.integers(0, 2**45),
)


@PROPS
@given(event=lab_results() | orders | adts | acks, origin=origins)
def test_every_patient_event_survives_encoding(event: Any, origin: Origin) -> None:
    envelope = PatientEnvelope(event=event, origin=origin)

    assert decode_envelope(encode_envelope(envelope)) == envelope


@PROPS
@given(event=lab_results() | orders | adts | acks, origin=origins)
def test_envelopes_built_without_validation_are_the_validated_ones(event: Any, origin: Origin) -> None:
    """The hot path's builders give what validation gives: equal, same hash, same encoding, and frozen."""
    validated = PatientEnvelope(event=event, origin=origin)
    built = new_envelope(event, new_origin(*origin.model_dump().values()))

    assert built == validated
    assert hash(built) == hash(validated)
    assert encode_envelope(built) == encode_envelope(validated)
    assert built.model_fields_set == validated.model_fields_set
    with pytest.raises(ValidationError):
        built.origin.offset = 0  # type: ignore[misc]


@PROPS
@given(
    status=st.sampled_from(["final", "preliminary", "corrected", "cancelled", "entered-in-error"]),
    with_value=st.booleans(),
    optional=st.dictionaries(
        st.sampled_from(["encounter_id", "resulted_at", "location"]), st.just(True), max_size=3
    ),
)
def test_what_the_native_decoder_makes_of_a_result_survives_encoding(
    status: str, with_value: bool, optional: dict[str, bool]
) -> None:
    doc: dict[str, Any] = {
        "result_id": "R1",
        "patient_id": "MRN-1",
        "code": "2823-3",
        "unit": "mmol/L",
        "status": status,
        "collected_at": "2026-03-01T10:00:00+01:00",
    }
    if with_value or status in ("final", "preliminary", "corrected"):
        doc["value"] = 3.1
    if "encounter_id" in optional:
        doc["encounter_id"] = "E1"
    if "resulted_at" in optional:
        doc["resulted_at"] = "2026-03-01T11:00:00Z"
    if "location" in optional:
        doc["location"] = {"unit": "4W"}
    decoded = decode("labs", orjson.dumps(doc), tz=UTC, mapping=DEFAULT_MAPPING)
    for index, event in enumerate(decoded.events):
        origin = Origin(topic="labs", partition=0, offset=7, index=index)
        envelope = PatientEnvelope(event=event, origin=origin)
        assert decode_envelope(encode_envelope(envelope)) == envelope


def test_a_cancelled_result_without_a_value_reaches_the_engine() -> None:
    doc = {
        "result_id": "R1",
        "patient_id": "MRN-1",
        "code": "2823-3",
        "status": "cancelled",
        "collected_at": "2026-03-01T10:00:00Z",
    }
    (event,) = decode("labs", orjson.dumps(doc), tz=UTC, mapping=DEFAULT_MAPPING).events
    envelope = PatientEnvelope(event=event, origin=Origin(topic="labs", partition=0, offset=1))

    back = decode_envelope(encode_envelope(envelope))

    assert isinstance(back, PatientEnvelope)
    assert back.event.results[0].status is ResultStatus.CANCELLED  # type: ignore[union-attr]
    assert back.event.results[0].value is None  # type: ignore[union-attr]


@pytest.mark.parametrize("index", [MAX_EVENTS_PER_MESSAGE, MAX_EVENTS_PER_MESSAGE + 5])
def test_an_origin_index_that_would_overlap_the_next_offset_is_refused(index: int) -> None:
    with pytest.raises(ValueError, match="index"):
        Origin(topic="orders", partition=0, offset=1, index=index)


def test_positions_of_consecutive_messages_never_overlap() -> None:
    last_of_first = Origin(topic="t", partition=0, offset=5, index=MAX_EVENTS_PER_MESSAGE - 1)
    first_of_next = Origin(topic="t", partition=0, offset=6, index=0)

    assert last_of_first.position < first_of_next.position
