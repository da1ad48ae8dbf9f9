"""The re-key path's agents: ingest (decode -> patient-events) and engine (patient-events -> core -> alerts).

Both take events in small batches: per-message sends and awaits dominate faust's cost, and a batch shares one
producer flush and, for the engine, one wait for the broker to confirm the alerts. A gap guard hands them
any message faust skipped (streams.worker.gaps), in partition order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from streams.codecs import InputKind
from streams.worker.batch_io import dead_letter_failure, delivery_for, log_failure, origin_of
from streams.worker.engine_batch import Batch, Pending
from streams.worker.envelope import encode_envelope
from streams.worker.failstop import stop_without_commit
from streams.worker.gaps import GapGuard, Record, record_of
from streams.worker.ingest import ingest_message
from streams.worker.runtime import Runtime
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


async def _records(batch: list[Any], guard: GapGuard) -> AsyncIterator[tuple[Record, Any]]:
    """Each event's record, preceded by any records faust skipped before it; with the faust event."""
    for event in batch:
        for missing in await guard.missing_before(event.message):
            yield missing, event
        yield record_of(event.message), event


def _ingest_agent(runtime: Runtime, kind: InputKind, guard: GapGuard) -> Any:
    metrics = runtime.metrics
    tz = runtime.settings.tz
    patient_events = runtime.settings.topic_patient_events

    async def ingest_batch(batch: list[Any]) -> None:
        now = datetime.now(UTC)
        delivery = delivery_for(runtime)
        tally = BatchTally()
        offsets: list[tuple[str, int, int]] = []
        async for record, _ in _records(batch, guard):
            offsets.append((record.topic, record.partition, record.offset))
            origin = origin_of(record)
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
                log_failure("ingest failed", record.ref, exc)
                await dead_letter_failure(runtime, delivery, record, origin, exc)
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


def _engine_agent(runtime: Runtime, guard: GapGuard) -> Any:
    async def engine_batch(events: list[Any]) -> None:
        batch = Batch(runtime, delivery_for(runtime))
        records: list[Record] = []
        async for record, event in _records(events, guard):
            records.append(record)
            # faust acknowledges the events once the batch is done (take_events); `event` is the context only.
            await batch.apply_internal(Pending(record, None, event))
        await batch.settle()
        batch.report(records)

    async def engine(stream: Any) -> None:
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WINDOW_S):
            try:
                await engine_batch(events)
            except Exception as exc:  # noqa: BLE001 - whatever it was, the batch must not be committed
                stop_without_commit("engine agent", record_of(events[0].message).ref, exc)

    return engine
