"""The internal patient-events record: one normalised event plus where its input message came from."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, TypeAdapter

from alerts.models import PatientEvent

_MAX_EVENTS_PER_MESSAGE = 1024


class Origin(BaseModel):
    """Where an input message was read: names events in logs and makes re-deliveries recognisable."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    # Which event of the message this is (a message can carry events for several patients).
    index: int = 0
    # The input message's Kafka timestamp (ms since the epoch), for end-to-end latency.
    timestamp_ms: int | None = None

    @property
    def stream(self) -> str:
        """The input topic-partition, within which offsets only grow."""
        return f"{self.topic}:{self.partition}"

    @property
    def position(self) -> int:
        """Orders events within the topic-partition: offset first, then index within the message."""
        return self.offset * _MAX_EVENTS_PER_MESSAGE + self.index

    def describe(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


class PatientEnvelope(BaseModel):
    """One record of the patient-events topic (keyed by patient id)."""

    model_config = ConfigDict(frozen=True)

    event: PatientEvent
    origin: Origin


_ADAPTER: TypeAdapter[PatientEnvelope] = TypeAdapter(PatientEnvelope)


def encode_envelope(envelope: PatientEnvelope) -> bytes:
    return _ADAPTER.dump_json(envelope, by_alias=True, exclude_none=True)


def decode_envelope(raw: bytes) -> PatientEnvelope:
    return _ADAPTER.validate_json(raw)
