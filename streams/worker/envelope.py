"""The internal patient-events record: one normalised event plus where its input message came from."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from alerts.models import PatientEvent
from streams.logs import message_ref

#: Events one input message may carry (an RDE with that many order groups): positions are
#: `offset * MAX + index`, so a larger index would overlap the next message's positions and make it look like
#: a re-delivery. ingest dead-letters a message with more (reason too_many_events).
MAX_EVENTS_PER_MESSAGE = 1024


class Origin(BaseModel):
    """Where an input message was read: names events in logs and makes re-deliveries recognisable."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    # Which event of the message this is (a message can carry events for several patients).
    index: int = Field(0, ge=0, lt=MAX_EVENTS_PER_MESSAGE)
    # The input message's Kafka timestamp (ms since the epoch), for end-to-end latency.
    timestamp_ms: int | None = None

    @property
    def stream(self) -> str:
        """The input topic-partition, within which offsets only grow."""
        return f"{self.topic}:{self.partition}"

    @property
    def position(self) -> int:
        """Orders events within the topic-partition: offset first, then index within the message."""
        return self.offset * MAX_EVENTS_PER_MESSAGE + self.index

    def describe(self) -> str:
        return message_ref(self.topic, self.partition, self.offset)


def new_origin(
    topic: str, partition: int, offset: int, index: int = 0, timestamp_ms: int | None = None
) -> Origin:
    """An Origin from values already known to be valid (a record's own), built without validation."""
    return _built(
        Origin, topic=topic, partition=partition, offset=offset, index=index, timestamp_ms=timestamp_ms
    )


def new_envelope(event: PatientEvent, origin: Origin) -> PatientEnvelope:
    """An envelope of an event a decoder built and validated, built without validating it again."""
    return _built(PatientEnvelope, event=event, origin=origin)


_Model = TypeVar("_Model", bound=BaseModel)


def _built(model: type[_Model], **values: Any) -> _Model:
    """What `model.model_construct(**values)` gives when `values` names every field, in half its time.

    pydantic's model_construct walks the model's fields for defaults and aliases on every call; on the
    replay's hot path that was 6 % of its time (docs/BENCHMARKS.md, "Replay"). The attributes set here are
    the ones model_construct sets; tests/unit/streams/test_envelope.py holds the two equal.
    """
    built = model.__new__(model)
    object.__setattr__(built, "__dict__", values)
    object.__setattr__(built, "__pydantic_fields_set__", set(values))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


class PatientEnvelope(BaseModel):
    """One record of the patient-events topic (keyed by patient id)."""

    model_config = ConfigDict(frozen=True)

    event: PatientEvent
    origin: Origin


class DropPatient(BaseModel):
    """A command on the patient-events topic: forget a patient no window needs (sent by the sweep timer).

    It travels through the topic so that the engine, which owns the table, applies it in order with the
    patient's events: a patient touched after the sweep looked (different `touched_at`) is kept.
    """

    model_config = ConfigDict(frozen=True)

    patient_id: str
    touched_at: float
    reason: str


class DropRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    drop: DropPatient


_ENVELOPE: TypeAdapter[PatientEnvelope] = TypeAdapter(PatientEnvelope)
_DROP: TypeAdapter[DropRecord] = TypeAdapter(DropRecord)
_DROP_PREFIX = b'{"drop":'


def encode_envelope(envelope: PatientEnvelope | DropRecord) -> bytes:
    if isinstance(envelope, DropRecord):
        return _DROP.dump_json(envelope)
    # Nulls are written out: a field such as a cancelled result's `value` is required even when None, and
    # leaving it out made the engine unable to read the event back (the cancellation was lost).
    return _ENVELOPE.dump_json(envelope, by_alias=True)


def decode_envelope(raw: bytes) -> PatientEnvelope | DropRecord:
    # Commands are rare and always written by encode_envelope, so a prefix check tells them apart.
    if raw.startswith(_DROP_PREFIX):
        return _DROP.validate_json(raw)
    return _ENVELOPE.validate_json(raw)
