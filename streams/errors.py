"""The exception hierarchy of the Kafka side; every error here derives from StreamsError."""

from __future__ import annotations

from alerts.errors import DeadLetterReason


class StreamsError(Exception):
    """Root of every error raised by the `streams` package."""


class DecodeError(StreamsError):
    """An input message cannot be used at all; `reason` is the dead-letter code, `detail` human text."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
