"""The exception hierarchy of the clinical side; every error here derives from AlertsError."""

from __future__ import annotations

from enum import StrEnum


class DeadLetterReason(StrEnum):
    """Machine-readable reasons an input message went to the dead-letter topic (documented in the README)."""

    NOT_JSON = "not_json"
    SCHEMA_ERROR = "schema_error"
    NON_NUMERIC_VALUE = "non_numeric_value"
    UNKNOWN_UNIT = "unknown_unit"
    IMPLAUSIBLE_VALUE = "implausible_value"
    UNSUPPORTED_MESSAGE_TYPE = "unsupported_message_type"
    HL7_PARSE_ERROR = "hl7_parse_error"
    FHIR_INVALID = "fhir_invalid"
    MISSING_PATIENT = "missing_patient"
    # More events in one message (e.g. order groups of an RDE) than the stream can number apart.
    TOO_MANY_EVENTS = "too_many_events"
    # Not bad input: the worker failed on this message (a bug); it is kept so nothing is lost.
    PROCESSING_ERROR = "processing_error"


class IgnoreReason(StrEnum):
    """Why valid input was ignored rather than used (counted on /metrics, documented in the README)."""

    # Not a test or drug lytewatch watches: lab and pharmacy feeds carry everything.
    UNWATCHED = "unwatched"
    # A K or Mg code under a code-system spelling lytewatch does not know: a feed misconfiguration to see.
    UNKNOWN_CODE_SYSTEM = "unknown_code_system"
    # An acknowledgement that changes nothing: of an unknown or resolved alert, of another patient's
    # alert, or the same person again at the same severity (counted by the engine, not at ingest).
    ACK_CHANGES_NOTHING = "ack_changes_nothing"


class AlertsError(Exception):
    """Root of every error raised by the `alerts` package."""


class InvalidInputError(AlertsError):
    """An input cannot be used; `reason` says why in machine-readable form, the message in human text."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class RulesFileError(AlertsError):
    """The rules file is missing, unreadable or invalid; the message names the bad key."""


class NotifierError(AlertsError):
    """A notification could not be delivered; `retriable` says whether trying again may succeed."""

    def __init__(self, detail: str, *, retriable: bool) -> None:
        super().__init__(detail)
        self.retriable = retriable
