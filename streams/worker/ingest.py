"""One raw input message -> the patient events to forward, the dead letters to write, and what to count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from alerts.codes import CodeMapping
from alerts.errors import DeadLetterReason, IgnoreReason
from streams.codecs import Decoded, InputKind, decode
from streams.codecs.deadletter import deadletter_bytes
from streams.errors import DecodeError
from streams.worker.envelope import MAX_EVENTS_PER_MESSAGE, Origin, PatientEnvelope, new_envelope


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What became of one input message: the envelopes to forward (keyed by patient), dead letters, counts."""

    format: str
    forward: tuple[PatientEnvelope, ...]
    deadletters: tuple[tuple[DeadLetterReason, bytes], ...]
    ignored: int
    # Of the ignored items, K or Mg codes under a code-system spelling we do not know.
    unknown_system: int = 0

    @classmethod
    def of(
        cls,
        decoded: Decoded,
        forward: tuple[PatientEnvelope, ...] = (),
        deadletters: tuple[tuple[DeadLetterReason, bytes], ...] = (),
    ) -> IngestOutcome:
        """A decoded message's outcome: its format and ignored counts, what it forwards and dead-letters."""
        return cls(
            format=decoded.format,
            forward=forward,
            deadletters=deadletters,
            ignored=decoded.ignored,
            unknown_system=decoded.unknown_system,
        )

    @property
    def disposition(self) -> str:
        """used, ignored or deadlettered: every message is exactly one (partly bad ones count as used)."""
        if self.forward:
            return "used"
        if self.deadletters:
            return "deadlettered"
        return "ignored"

    @property
    def ignore_reason(self) -> IgnoreReason:
        """Why an ignored message was ignored."""
        return ignore_reason(self.unknown_system)


def ignore_reason(unknown_system: int) -> IgnoreReason:
    """Why a message of ignored items was ignored: a K/Mg code under an unknown system wins over unwatched."""
    return IgnoreReason.UNKNOWN_CODE_SYSTEM if unknown_system else IgnoreReason.UNWATCHED


def ingest_message(
    kind: InputKind,
    raw: bytes,
    origin: Origin,
    *,
    key: bytes | None,
    tz: tzinfo,
    mapping: CodeMapping,
    now: datetime,
    parsed: dict[str, Any] | None = None,
) -> IngestOutcome:
    """Decode and normalise one message; never raises for bad input (it becomes a dead letter).

    `parsed`: the JSON object `raw` holds, if the caller parsed it already (streams.codecs.decode).
    """
    try:
        decoded = decode(kind, raw, tz=tz, mapping=mapping, parsed=parsed)
    except DecodeError as exc:
        return IngestOutcome(
            format=_sniff_format(raw),
            forward=(),
            deadletters=(_dead_letter(origin, key, raw, now, exc.reason, exc.detail),),
            ignored=0,
        )
    return ingest_decoded(decoded, raw, origin, key=key, now=now)


def ingest_decoded(
    decoded: Decoded, raw: bytes, origin: Origin, *, key: bytes | None, now: datetime
) -> IngestOutcome:
    """What `ingest_message` makes of a decoded message (the fetch filter may have decoded it already)."""
    if len(decoded.events) > MAX_EVENTS_PER_MESSAGE:
        detail = f"{len(decoded.events)} events in one message; at most {MAX_EVENTS_PER_MESSAGE}"
        return IngestOutcome(
            format=decoded.format,
            forward=(),
            deadletters=(_dead_letter(origin, key, raw, now, DeadLetterReason.TOO_MANY_EVENTS, detail),),
            ignored=0,
        )
    # The decoder built and validated each event: construct, do not validate it a second time.
    forward = tuple(
        new_envelope(event, origin if origin.index == index else origin.model_copy(update={"index": index}))
        for index, event in enumerate(decoded.events)
    )
    deadletters: tuple[tuple[DeadLetterReason, bytes], ...] = ()
    if decoded.rejected:
        # One dead letter per message, like a wholly bad one: the first rejection names the reason.
        first, more = decoded.rejected[0], len(decoded.rejected) - 1
        detail = first.detail + (f" (and {more} more)" if more else "")
        deadletters = (_dead_letter(origin, key, raw, now, first.reason, detail),)
    return IngestOutcome.of(decoded, forward, deadletters)


def _dead_letter(
    origin: Origin, key: bytes | None, raw: bytes, now: datetime, reason: DeadLetterReason, detail: str
) -> tuple[DeadLetterReason, bytes]:
    record = deadletter_bytes(
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key=key,
        raw=raw,
        reason=reason,
        detail=detail,
        at=now,
    )
    return reason, record


def _sniff_format(raw: bytes) -> str:
    """A best guess for metrics when the message could not be decoded at all."""
    head = raw.lstrip()[:3]
    if head.startswith(b"MSH"):
        return "hl7v2"
    if head.startswith(b"{"):
        return "fhir" if b'"resourceType"' in raw[:4096] else "json"
    return "unknown"
