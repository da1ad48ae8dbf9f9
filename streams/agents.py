"""The agents: ingest (decode -> patient-events) and engine (patient-events -> core -> alerts); data only."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from alerts.errors import DeadLetterReason
from streams.codecs import InputKind
from streams.envelope import Origin, decode_envelope, encode_envelope
from streams.ingest import dead_letter_bytes, ingest_message
from streams.state import decode_stored, encode_stored, step

if TYPE_CHECKING:
    from streams.app import Runtime

log = logging.getLogger(__name__)


def register_agents(rt: Runtime) -> None:
    for kind, topic in rt.inputs.items():
        rt.app.agent(topic, name=f"lytewatch.ingest.{kind}")(_ingest_agent(rt, kind))  # type: ignore[arg-type]
    rt.app.agent(rt.patient_events, name="lytewatch.engine")(_engine_agent(rt))
    from streams.housekeeping import register_timers

    register_timers(rt)


def _origin(message: Any) -> Origin:
    timestamp = message.timestamp
    return Origin(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(timestamp * 1000) if timestamp else None,
    )


async def _dead_letter_failure(rt: Runtime, message: Any, origin: Origin, exc: Exception) -> None:
    """Keep a message the worker failed on (a bug, not bad input) so nothing is lost, and go on."""
    record = dead_letter_bytes(
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key=message.key,
        raw=message.value or b"",
        reason=DeadLetterReason.PROCESSING_ERROR,
        detail=f"{type(exc).__name__}: {exc}",
        at=datetime.now(UTC),
    )
    await rt.deadletter.send(key=message.key, value=record)
    rt.metrics.count_deadletter(origin.topic, DeadLetterReason.PROCESSING_ERROR)


def _ingest_agent(rt: Runtime, kind: InputKind) -> Any:
    metrics = rt.metrics
    tz = rt.settings.tz

    async def ingest(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            origin = _origin(message)
            try:
                outcome = ingest_message(
                    kind,
                    message.value or b"",
                    origin,
                    key=message.key,
                    tz=tz,
                    mapping=rt.mapping,
                    now=datetime.now(UTC),
                )
                for envelope in outcome.forward:
                    await rt.patient_events.send(
                        key=envelope.event.patient_id.encode(), value=encode_envelope(envelope)
                    )
                for reason, record in outcome.deadletters:
                    await rt.deadletter.send(key=message.key, value=record)
                    metrics.count_deadletter(origin.topic, reason)
                    log.warning("dead-lettered %s: %s", origin.describe(), reason.value)
            except Exception as exc:
                log.exception("ingest failed on %s; dead-lettering it and going on", origin.describe())
                await _dead_letter_failure(rt, message, origin, exc)
                metrics.count_input(origin.topic, "unknown")
                continue
            metrics.count_input(origin.topic, outcome.format)
            if outcome.disposition == "ignored":
                metrics.count_ignored(origin.topic)

    return ingest


def _engine_agent(rt: Runtime) -> Any:
    metrics = rt.metrics
    table = rt.patients

    async def engine(stream: Any) -> None:
        async for event in stream.events():
            arrived = time.perf_counter()
            message = event.message
            position = f"{message.topic}/{message.partition}@{message.offset}"
            try:
                envelope = decode_envelope(message.value)
            except ValidationError as exc:
                log.exception("undecodable patient event at %s", position)
                await _dead_letter_failure(rt, message, _origin(message), exc)
                continue
            key = envelope.event.patient_id.encode()
            try:
                stored_raw = table.get(key)
                result = step(
                    decode_stored(stored_raw) if stored_raw else None,
                    envelope,
                    rt.rules,
                    wall_now=time.time(),
                )
            except Exception as exc:
                log.exception("engine failed on %s (from %s)", position, envelope.origin.describe())
                await _dead_letter_failure(rt, message, envelope.origin, exc)
                continue
            if result.stored is None:
                log.debug("re-delivery of %s skipped", envelope.origin.describe())
                continue
            emitted_at = datetime.now(UTC)
            deliveries = []
            for alert in result.alerts:
                stamped = alert.model_copy(update={"emitted_at": emitted_at})
                deliveries.append(await rt.alerts.send(key=key, value=stamped.model_dump_json().encode()))
            # The alerts are confirmed by the broker before the state moves on: a crash in between
            # re-derives and re-sends the same alerts (same ids and revisions) instead of losing them.
            if deliveries:
                await asyncio.gather(*deliveries)
            table[key] = encode_stored(result.stored)
            metrics.observe_processing(time.perf_counter() - arrived)
            input_ts = envelope.origin.timestamp_ms / 1000 if envelope.origin.timestamp_ms else None
            for alert in result.alerts:
                metrics.record_alert(alert, input_timestamp=input_ts)
                log.info(
                    "alert %s rev %d %s (%s, %s) from %s",
                    alert.alert_id,
                    alert.revision,
                    alert.event.value,
                    alert.rule.value,
                    alert.severity.value,
                    envelope.origin.describe(),
                )

    return engine
