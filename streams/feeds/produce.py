"""Produce replay envelopes to Kafka: topic mapping, patient keys, steady-rate or hospital-time pacing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from streams.codecs import DEFAULT_TOPIC_KINDS
from streams.feeds import Envelope, paced
from streams.settings import Settings

__all__ = [
    "ProduceStats",
    "encode_value",
    "envelope_key",
    "produce_envelopes",
    "produce_scheduled",
    "schedule_envelopes",
    "topics_from_settings",
]

log = logging.getLogger(__name__)

# Below this many seconds ahead of schedule a producer does not sleep: batching absorbs the jitter.
_MIN_SLEEP_S = 0.002
# How long stopping the producer may take (after every send was acknowledged, it is immediate).
_STOP_TIMEOUT_S = 10.0


@dataclass
class ProduceStats:
    """What a produce run did: acknowledged messages per Kafka topic, failures, and how long it took."""

    acknowledged: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    unkeyed: int = 0
    elapsed_s: float = 0.0
    first_error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.acknowledged.values())

    @property
    def rate(self) -> float:
        """Achieved messages/s (acknowledged over wall time)."""
        return self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0


def topics_from_settings(settings: Settings) -> dict[str, str]:
    """Envelope topic name -> the configured topic name."""
    return {name: settings.input_topics[kind] for name, kind in DEFAULT_TOPIC_KINDS.items()}


def encode_value(value: object) -> bytes:
    """An HL7 v2 (or any text) message goes as its UTF-8 bytes; a JSON object as compact JSON."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return orjson.dumps(value)


def _hl7_patient(message: str) -> str | None:
    """PID-3, first repetition, first component, of an ER7 message; None when there is none."""
    if not message.startswith("MSH") or len(message) < 8:
        return None
    fsep, csep, rsep = message[3], message[4], message[5]
    # A message without its four encoding characters cannot be parsed downstream either: no key.
    if fsep in message[4:8] or len(set(message[3:8])) < 5:
        return None
    for segment in message.replace("\n", "\r").split("\r"):
        if segment.startswith("PID" + fsep):
            fields = segment.split(fsep)
            if len(fields) > 3:
                patient = fields[3].split(rsep)[0].split(csep)[0]
                return patient or None
            return None
    return None


def envelope_key(envelope: Envelope, key_field: str = "patient_id") -> bytes | None:
    """The Kafka key: the patient id from `key_field`, FHIR subject "Patient/<id>", or HL7 PID-3."""
    value = envelope.get("value")
    patient: object = None
    if isinstance(value, str):
        patient = _hl7_patient(value)
    elif isinstance(value, dict):
        patient = value.get(key_field)
        subject = value.get("subject")
        if patient is None and isinstance(subject, dict) and isinstance(subject.get("reference"), str):
            reference: str = subject["reference"]
            head, found, tail = reference.rpartition("Patient/")
            patient = tail.split("/")[0] if found and (not head or head.endswith("/")) else None
    if isinstance(patient, str | int) and not isinstance(patient, bool) and str(patient):
        return str(patient).encode("utf-8")
    return None


def schedule_envelopes(
    envelopes: Iterable[Envelope], rate: float | None, time_scale: float | None, max_delay_s: float | None
) -> Iterator[tuple[float, Envelope]]:
    """(seconds after the start when the envelope is due, envelope)."""
    if time_scale is not None:
        due = 0.0
        for delay, envelope in paced(envelopes, time_scale, max_delay_s):
            due += delay
            yield due, envelope
    elif rate is not None:
        for i, envelope in enumerate(envelopes):
            yield i / rate, envelope
    else:
        for envelope in envelopes:
            yield 0.0, envelope


async def produce_envelopes(
    bootstrap: str,
    envelopes: Iterable[Envelope],
    topics: Mapping[str, str],
    rate: float | None,
    key_field: str = "patient_id",
    *,
    time_scale: float | None = None,
    max_delay_s: float | None = None,
    producer_options: Mapping[str, Any] | None = None,
) -> ProduceStats:
    """Produce every envelope and wait until each is acknowledged (acks=all, idempotent producer).

    `topics` maps envelope topic names ("labs.results", ...) to Kafka topic names; a name not in it is
    used as is. `rate` is a steady target in messages/s (None: as fast as possible, batched with linger);
    `time_scale` instead replays hospital time sped up (3600: one hospital hour per second), each wait
    capped at `max_delay_s` when given (use it for MIMIC, whose patients live decades apart). Keys are the
    patient id (see `envelope_key`); a message with none goes unkeyed. `producer_options` are extra
    AIOKafkaProducer arguments (security settings, client_id, ...), overriding the defaults here.
    """
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be > 0 messages/s, got {rate}")
    if rate is not None and time_scale is not None:
        raise ValueError("give either rate or time_scale, not both")
    schedule = schedule_envelopes(envelopes, rate, time_scale, max_delay_s)
    paced_feed = rate is not None or time_scale is not None
    return await produce_scheduled(
        bootstrap, schedule, topics, key_field, paced_feed=paced_feed, producer_options=producer_options
    )


async def produce_scheduled(
    bootstrap: str,
    schedule: Iterable[tuple[float, Envelope]],
    topics: Mapping[str, str],
    key_field: str = "patient_id",
    *,
    paced_feed: bool = True,
    producer_options: Mapping[str, Any] | None = None,
) -> ProduceStats:
    """Produce (seconds after the start, envelope) pairs, each when it is due, as `produce_envelopes`."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "lytewatch-feed",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5 if paced_feed else 50,
        "max_batch_size": 256 * 1024,
    }
    options.update(producer_options or {})
    stats = ProduceStats()
    pending: set[asyncio.Future[Any]] = set()

    def delivered(topic: str) -> Any:
        def done(future: asyncio.Future[Any]) -> None:
            pending.discard(future)
            if future.cancelled():
                error: BaseException | None = asyncio.CancelledError()
            else:
                error = future.exception()
            if error is None:
                stats.acknowledged[topic] += 1
            else:
                stats.failed += 1
                if stats.first_error is None:
                    stats.first_error = f"{type(error).__name__}: {error}"

        return done

    callbacks: dict[str, Any] = {}
    producer = AIOKafkaProducer(**options)
    await producer.start()
    started = time.monotonic()
    try:
        for due, envelope in schedule:
            ahead = started + due - time.monotonic()
            if ahead > _MIN_SLEEP_S:
                await asyncio.sleep(ahead)
            name = str(envelope.get("topic"))
            topic = topics.get(name, name)
            key = envelope_key(envelope, key_field)
            if key is None:
                stats.unkeyed += 1
            future = await producer.send(topic, encode_value(envelope.get("value")), key=key)
            pending.add(future)
            callback = callbacks.get(topic)
            if callback is None:
                callback = callbacks[topic] = delivered(topic)
            future.add_done_callback(callback)
        await producer.flush()
        if pending:
            await asyncio.gather(*list(pending), return_exceptions=True)
        # Done-callbacks run on the next loop iteration after their future completes.
        await asyncio.sleep(0)
    finally:
        stats.elapsed_s = time.monotonic() - started
        # A producer stopped while its broker is gone would wait for it; Ctrl-C must not.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(producer.stop(), timeout=_STOP_TIMEOUT_S)
    log.info(
        "produced %d messages (%d failed, %d unkeyed) in %.1f s, %.0f/s: %s",
        stats.total,
        stats.failed,
        stats.unkeyed,
        stats.elapsed_s,
        stats.rate,
        dict(stats.acknowledged),
    )
    return stats
