"""Input workloads: replay-file envelopes, NDJSON writing, and pacing a feed in hospital time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from streams.topic_registry import DEFAULT_TOPIC_KINDS

__all__ = [
    "ENVELOPE_TOPICS",
    "Envelope",
    "envelope_time",
    "paced",
    "write_ndjson",
]

# One replay-file line: {"topic": <input topic name>, "value": <event object or HL7 v2 string>}.
Envelope = dict[str, Any]

ENVELOPE_TOPICS = tuple(DEFAULT_TOPIC_KINDS)


def write_ndjson(envelopes: Iterable[Envelope], out: IO[bytes]) -> int:
    """Write envelopes as pure NDJSON (one a line, nothing else) and return how many were written."""
    count = 0
    dumps = orjson.dumps
    write = out.write
    for envelope in envelopes:
        write(dumps(envelope) + b"\n")
        count += 1
    return count


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Naive times are read as UTC here; pacing only needs differences, not the hospital zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _hl7_time(message: str) -> datetime | None:
    """MSH-7 of an ER7 message (YYYYMMDDHHMM[SS][+ZZZZ]), or None."""
    if not message.startswith("MSH") or len(message) < 8:
        return None
    sep = message[3]
    end = message.find("\r")
    fields = (message if end < 0 else message[:end]).split(sep)
    if len(fields) < 7:
        return None
    stamp = fields[6].split(message[4] if len(message) > 4 else "^")[0]
    digits, sign, zone = stamp, "", ""
    for mark in ("+", "-"):
        if mark in stamp:
            digits, zone = stamp.split(mark, 1)
            sign = mark
            break
    digits = digits.split(".")[0]
    if len(digits) < 12 or not digits.isdigit():
        return None
    text = f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}T{digits[8:10]}:{digits[10:12]}:{digits[12:14] or '00'}"
    if sign and len(zone) == 4 and zone.isdigit():
        text += f"{sign}{zone[:2]}:{zone[2:]}"
    return _parse_time(text)


def envelope_time(envelope: Envelope) -> datetime | None:
    """When the message became available, as a live feed would deliver it; None when it cannot be told.

    Lab results: resulted (released) time, else collection time; orders: recorded_at; ADT: occurred_at;
    acks: at; FHIR: issued / meta.lastUpdated / authoredOn / effectiveDateTime; HL7 v2: MSH-7.
    """
    value = envelope.get("value")
    if isinstance(value, str):
        return _hl7_time(value)
    if not isinstance(value, dict):
        return None
    for name in ("resulted_at", "recorded_at", "occurred_at", "at", "issued", "collected_at"):
        if name in value:
            moment = _parse_time(value[name])
            if moment is not None:
                return moment
    meta = value.get("meta")
    if isinstance(meta, dict) and (moment := _parse_time(meta.get("lastUpdated"))) is not None:
        return moment
    for name in ("authoredOn", "effectiveDateTime"):
        if (moment := _parse_time(value.get(name))) is not None:
            return moment
    return None


def paced(
    envelopes: Iterable[Envelope], time_scale: float, max_delay_s: float | None = None
) -> Iterator[tuple[float, Envelope]]:
    """Yield (delay_seconds, envelope): wait delay_seconds of wall time before sending the envelope.

    `time_scale` is hospital seconds per wall second (3600 replays one hospital hour per second). The
    delay is the hospital time since the previous envelope divided by the scale; an envelope whose time
    cannot be told, or that is earlier than the previous one, goes at once (delay 0). `max_delay_s` caps
    each wait: MIMIC shifts every patient into its own decade, so the merged feed has gaps of years.
    """
    if time_scale <= 0:
        raise ValueError(f"time_scale must be > 0, got {time_scale}")
    if max_delay_s is not None and max_delay_s < 0:
        raise ValueError(f"max_delay_s must be >= 0, got {max_delay_s}")
    previous: datetime | None = None
    for envelope in envelopes:
        moment = envelope_time(envelope)
        delay = 0.0
        if moment is not None:
            if previous is not None and moment > previous:
                delay = (moment - previous).total_seconds() / time_scale
                if max_delay_s is not None:
                    delay = min(delay, max_delay_s)
            if previous is None or moment > previous:
                previous = moment
        yield delay, envelope
