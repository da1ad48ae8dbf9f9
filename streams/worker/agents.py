"""The re-key path's agents: ingest (decode -> patient-events) and engine (patient-events -> core -> alerts).

Both take events in small batches: per-message sends and awaits dominate faust's cost, and a batch shares one
producer flush and, for the engine, one wait for the broker to confirm the alerts. A gap guard hands them
any message faust skipped (streams.worker.gaps), in partition order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime
from typing import Any

from faust.streams import _current_event
from pydantic import ValidationError

from alerts.errors import DeadLetterReason
from streams.codecs import InputKind
from streams.codecs.deadletter import deadletter_bytes
from streams.worker.delivery import BatchDelivery
from streams.worker.envelope import DropRecord, Origin, PatientEnvelope, decode_envelope, encode_envelope
from streams.worker.failstop import stop_without_commit
from streams.worker.gaps import GapGuard, Record, record_of
from streams.worker.ingest import ingest_message
from streams.worker.runtime import Runtime
from streams.worker.stored import StoredPatient, decode_stored, encode_stored, step
from streams.worker.tally import BatchTally
from streams.worker.watch import Watch

log = logging.getLogger(__name__)

BATCH_MAX = 500
# How long a partly filled batch may wait for more events: the latency a batch can add at low traffic.
BATCH_WINDOW_S = 0.005


def _watch_crashes(agent: Any, watch: Watch) -> None:
    """Remember when faust restarts a crashed agent, for /readyz; faust's own handler still runs after."""
    original = agent._on_error

    async def on_error(failed: Any, exc: BaseException) -> None:
        watch.agent_crashed(failed.name)
        log.error("agent %s crashed (%s); faust restarts it", failed.name, type(exc).__name__)
        if original is not None:
            await original(failed, exc)

    agent._on_error = on_error


def _origin(record: Record) -> Origin:
    return Origin(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=int(record.timestamp * 1000) if record.timestamp else None,
    )


async def _records(batch: list[Any], guard: GapGuard) -> AsyncIterator[tuple[Record, Any]]:
    """Each event's record, preceded by any records faust skipped before it; with the faust event."""
    for event in batch:
        for missing in await guard.missing_before(event.message):
            yield missing, event
        yield record_of(event.message), event


async def _send(runtime: Runtime, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
    """Hand a record to the producer; the returned awaitable resolves when the broker has it."""
    return await runtime.app.producer.send(topic, key, value, None, None, None)


async def _dead_letter_failure(
    runtime: Runtime, delivery: BatchDelivery, record: Record, origin: Origin, exc: Exception
) -> None:
    """Keep a message the worker failed on (a bug, not bad input) so nothing is lost, and go on."""
    value = deadletter_bytes(
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key=record.key,
        raw=record.value,
        reason=DeadLetterReason.PROCESSING_ERROR,
        detail=f"{type(exc).__name__}: {exc}",
        at=datetime.now(UTC),
    )
    await delivery.deadletter(record.key, value)


def _log_failure(what: str, where: str, exc: Exception) -> None:
    """Name the failure at ERROR; its text and traceback, which may quote patient data, only at DEBUG."""
    log.error("%s at %s (%s); dead-lettered, going on", what, where, type(exc).__name__)
    log.debug("failure detail for %s", where, exc_info=exc)


@contextlib.contextmanager
def _in_event(event: Any) -> Iterator[None]:
    """Make `event` faust's current event: table writes take their partition (store and changelog) from it.

    Within a batch faust's own current event is the last one buffered, which may belong to another
    partition; each write must carry the partition of the event that caused it.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def _load_patient(table: Any, key: bytes) -> StoredPatient | None:
    """A patient's stored state, or None for a patient the table does not hold."""
    raw = table.get(key)
    return decode_stored(raw) if raw else None


def _ingest_agent(runtime: Runtime, kind: InputKind, guard: GapGuard) -> Any:
    metrics = runtime.metrics
    tz = runtime.settings.tz
    patient_events = runtime.settings.topic_patient_events

    async def ingest_batch(batch: list[Any]) -> None:
        now = datetime.now(UTC)
        delivery = _delivery(runtime)
        tally = BatchTally()
        offsets: list[tuple[str, int, int]] = []
        async for record, _ in _records(batch, guard):
            offsets.append((record.topic, record.partition, record.offset))
            origin = _origin(record)
            try:
                outcome = ingest_message(
                    kind, record.value, origin, key=record.key, tz=tz, mapping=runtime.mapping, now=now
                )
                for envelope in outcome.forward:
                    key = envelope.event.patient_id.encode()
                    await delivery.send(patient_events, key, encode_envelope(envelope))
                for reason, value in outcome.deadletters:
                    await delivery.deadletter(record.key, value)
                    log.warning("dead-lettered %s: %s", record.ref, reason.value)
            # A bug must not stop the worker: the message is kept as a dead letter instead.
            except Exception as exc:  # noqa: BLE001
                _log_failure("ingest failed", record.ref, exc)
                await _dead_letter_failure(runtime, delivery, record, origin, exc)
                tally.failed(origin.topic, "ingest")
                continue
            tally.ingested(origin.topic, outcome)
        # The batch is done only when the broker has what it produced; until then nothing is acknowledged.
        await delivery.confirm()
        tally.publish(metrics)
        runtime.watch.batch_done("ingest", offsets)

    async def ingest(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WINDOW_S):
            try:
                await ingest_batch(batch)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the batch must not be committed
                stop_without_commit(f"ingest agent ({kind})", record_of(batch[0].message).ref, exc)

    return ingest


def _delivery(runtime: Runtime) -> BatchDelivery:
    return BatchDelivery(
        functools.partial(_send, runtime),
        runtime.settings.topic_deadletter,
        runtime.settings.max_message_bytes,
    )


def _engine_agent(runtime: Runtime, guard: GapGuard) -> Any:
    metrics = runtime.metrics
    table = runtime.patients
    alerts_topic = runtime.settings.topic_alerts

    async def engine_batch(batch: list[Any]) -> None:
        wall_now = time.time()
        delivery = _delivery(runtime)
        tally = BatchTally()
        # Patients changed by this batch (None: to be dropped) and the faust event of the partition
        # that changed each; a patient seen twice in a batch continues from its in-batch state.
        changed: dict[bytes, StoredPatient | None] = {}
        causes: dict[bytes, Any] = {}
        published: list[tuple[Any, PatientEnvelope, bytes]] = []
        arrivals: list[float] = []
        offsets: list[tuple[str, int, int]] = []
        async for record, event in _records(batch, guard):
            arrivals.append(record.time_in)
            offsets.append((record.topic, record.partition, record.offset))
            try:
                decoded = decode_envelope(record.value)
            except ValidationError as exc:
                _log_failure("undecodable patient event", record.ref, exc)
                await _dead_letter_failure(runtime, delivery, record, _origin(record), exc)
                tally.failed(record.topic, "engine")
                continue
            if isinstance(decoded, DropRecord):
                key = decoded.drop.patient_id.encode()
                current = changed[key] if key in changed else _load_patient(table, key)
                # Kept if anything happened to the patient since the sweep decided.
                if current is not None and current.touched_at == decoded.drop.touched_at:
                    changed[key] = None
                    causes[key] = event
                continue
            key = decoded.event.patient_id.encode()
            try:
                current = changed[key] if key in changed else _load_patient(table, key)
                result = step(current, decoded, runtime.rules, wall_now=wall_now)
            except Exception as exc:  # noqa: BLE001 - as in ingest: dead-letter, go on
                _log_failure("engine failed", f"{record.ref} (from {decoded.origin.describe()})", exc)
                await _dead_letter_failure(runtime, delivery, record, decoded.origin, exc)
                tally.failed(decoded.origin.topic, "engine")
                continue
            if result.stored is None:
                log.debug("re-delivery of %s skipped", decoded.origin.describe())
                continue
            if result.ignored_ack:
                tally.ack_ignored(decoded.origin.topic)
            changed[key] = result.stored
            causes[key] = event
            published.extend((alert, decoded, key) for alert in result.alerts)
        await _publish(runtime, alerts_topic, published)
        await delivery.confirm()
        tally.publish(metrics)
        # Only once the broker has the alerts does the state move on: a crash in between re-derives
        # and re-sends the same alerts (same ids and revisions) instead of losing them.
        for key, stored in changed.items():
            with _in_event(causes[key]):
                if stored is None:
                    table.pop(key, None)
                else:
                    table[key] = encode_stored(stored)
        done = time.monotonic()
        for arrived in arrivals:
            metrics.observe_processing(done - arrived)
        _record_alerts(runtime, published)
        runtime.watch.batch_done("engine", offsets, done)

    async def engine(stream: Any) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WINDOW_S):
            try:
                await engine_batch(batch)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the batch must not be committed
                stop_without_commit("engine agent", record_of(batch[0].message).ref, exc)

    return engine


async def _publish(runtime: Runtime, topic: str, published: list[tuple[Any, PatientEnvelope, bytes]]) -> None:
    """Send the batch's alert events and wait until the broker has every one."""
    stamp = {"emitted_at": datetime.now(UTC)}
    deliveries = [
        await _send(runtime, topic, key, alert.model_copy(update=stamp).model_dump_json().encode())
        for alert, _, key in published
    ]
    if deliveries:
        await asyncio.gather(*deliveries)


def _record_alerts(runtime: Runtime, published: list[tuple[Any, PatientEnvelope, bytes]]) -> None:
    produced_at = time.time()
    for alert, envelope, _ in published:
        timestamp_ms = envelope.origin.timestamp_ms
        runtime.metrics.record_alert(
            alert, input_timestamp=timestamp_ms / 1000 if timestamp_ms else None, produced_at=produced_at
        )
        log.info(
            "alert %s rev %d %s (%s, %s) from %s",
            alert.alert_id,
            alert.revision,
            alert.event.value,
            alert.rule.value,
            alert.severity.value,
            envelope.origin.describe(),
        )
