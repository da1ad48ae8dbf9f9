"""Input codecs: native JSON, HL7 v2 and FHIR R4 messages -> normalised PatientEvents, and dead letters."""

from streams.codecs.base import Decoded, Format, Rejection
from streams.codecs.deadletter import deadletter_bytes, deadletter_record
from streams.codecs.detect import decode, detect
from streams.topic_registry import DEFAULT_TOPIC_KINDS, InputKind

__all__ = [
    "DEFAULT_TOPIC_KINDS",
    "Decoded",
    "Format",
    "InputKind",
    "Rejection",
    "deadletter_bytes",
    "deadletter_record",
    "decode",
    "detect",
]
