"""One batch of the engine (one-hop or re-key path): the records it applies and what they change (patients,
alerts, counts), kept apart until the broker has the alerts, then written."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from faust.streams import _current_event
from pydantic import ValidationError

from streams.worker.batch_io import dead_letter_failure, log_failure, origin_of, send
from streams.worker.delivery import BatchDelivery
from streams.worker.envelope import DropRecord, PatientEnvelope, decode_envelope
from streams.worker.gaps import Record
from streams.worker.runtime import Runtime
from streams.worker.stored import StoredPatient, encode_stored, load_patient, step
from streams.worker.tally import BatchTally

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pending:
    """A buffered record; `event` is faust's (acknowledged once applied), None for one the gap guard read."""

    record: Record
    event: Any
    # A faust event of the same partition: table writes take their partition (store, changelog) from it.
    context: Any
    # For the last record of a range the gap guard read: the range to record as done once it is applied.
    done_range: tuple[Any, int, int] | None = None


@dataclass
class Batch:
    """What one batch of applied records changes: patients (None: dropped), alerts, counts."""

    runtime: Runtime
    delivery: BatchDelivery
    tally: BatchTally = field(default_factory=BatchTally)
    changed: dict[bytes, StoredPatient | None] = field(default_factory=dict)
    causes: dict[bytes, Any] = field(default_factory=dict)
    published: list[tuple[Any, PatientEnvelope, bytes]] = field(default_factory=list)
    rekeyed: Counter[str] = field(default_factory=Counter)
    wall_now: float = field(default_factory=time.time)

    def current(self, key: bytes) -> StoredPatient | None:
        """The patient as this batch left it so far (a patient seen twice continues from there)."""
        if key in self.changed:
            return self.changed[key]
        return load_patient(self.runtime.patients, key)

    async def apply(self, key: bytes, envelope: PatientEnvelope, pending: Pending, *, direct: bool) -> None:
        """One event through the core; a failure (a bug) dead-letters the record and the worker goes on."""
        try:
            current = self.current(key)
            result = step(current, envelope, self.runtime.rules, wall_now=self.wall_now, direct=direct)
        except Exception as exc:  # noqa: BLE001 - as in the agents: dead-letter, go on
            where = f"{pending.record.ref} (from {envelope.origin.describe()})"
            log_failure("engine failed", where, exc)
            await dead_letter_failure(self.runtime, self.delivery, pending.record, envelope.origin, exc)
            self.tally.failed(envelope.origin.topic, "engine")
            return
        if result.stored is None:
            log.debug("re-delivery of %s skipped", envelope.origin.describe())
            return
        if result.ignored_ack:
            self.tally.ack_ignored(envelope.origin.topic)
        self.changed[key] = result.stored
        self.causes[key] = pending.context
        self.published.extend((alert, envelope, key) for alert in result.alerts)

    def drop(self, key: bytes, command: DropRecord, pending: Pending) -> None:
        current = self.current(key)
        # Kept if anything happened to the patient since the sweep decided.
        if current is not None and current.touched_at == command.drop.touched_at:
            self.changed[key] = None
            self.causes[key] = pending.context

    async def apply_internal(self, pending: Pending) -> None:
        """A patient-events record: a re-keyed event, or a drop command from the sweep."""
        record = pending.record
        try:
            decoded = decode_envelope(record.value)
        except ValidationError as exc:
            log_failure("undecodable patient event", record.ref, exc)
            await dead_letter_failure(self.runtime, self.delivery, record, origin_of(record), exc)
            self.tally.failed(record.topic, "engine")
            return
        if isinstance(decoded, DropRecord):
            self.drop(decoded.drop.patient_id.encode(), decoded, pending)
            return
        await self.apply(decoded.event.patient_id.encode(), decoded, pending, direct=False)

    async def settle(self) -> None:
        """The alerts and everything else produced confirmed by the broker, then the counts and the table.

        Only once the broker has the alerts does the state move on: a crash in between re-derives and
        re-sends the same alerts (same ids and revisions) instead of losing them.
        """
        runtime = self.runtime
        await publish_alerts(runtime, runtime.settings.topic_alerts, self.published)
        # Re-keyed events and dead letters too: until the broker has them, nothing is acknowledged.
        await self.delivery.confirm()
        self.tally.publish(runtime.metrics)
        for key, stored in self.changed.items():
            with _in_event(self.causes[key]):
                if stored is None:
                    runtime.patients.pop(key, None)
                else:
                    runtime.patients[key] = encode_stored(stored)

    def report(self, records: Iterable[Record]) -> None:
        """Processing times, re-key counts, the alerts' metrics and log lines, and the batch for /readyz."""
        runtime = self.runtime
        done = time.monotonic()
        offsets = []
        for record in records:
            runtime.metrics.observe_processing(done - record.time_in)
            offsets.append((record.topic, record.partition, record.offset))
        for topic, n in self.rekeyed.items():
            runtime.metrics.rekeyed.labels(topic=topic).inc(n)
        record_alerts(runtime, self.published)
        runtime.watch.batch_done("engine", offsets, done)


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


async def publish_alerts(
    runtime: Runtime, topic: str, published: list[tuple[Any, PatientEnvelope, bytes]]
) -> None:
    """Send the batch's alert events and wait until the broker has every one."""
    stamp = {"emitted_at": datetime.now(UTC)}
    deliveries = [
        await send(runtime, topic, key, alert.model_copy(update=stamp).model_dump_json().encode())
        for alert, _, key in published
    ]
    if deliveries:
        await asyncio.gather(*deliveries)


def record_alerts(runtime: Runtime, published: list[tuple[Any, PatientEnvelope, bytes]]) -> None:
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
