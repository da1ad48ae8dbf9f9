"""One batch of the one-hop engine: the buffered records it applies and what they change (patients, alerts,
counts), kept apart until the broker has the alerts (streams.worker.onehop)."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streams.worker.agents import _dead_letter_failure, _load_patient, _log_failure
from streams.worker.delivery import BatchDelivery
from streams.worker.envelope import DropRecord, PatientEnvelope
from streams.worker.gaps import Record
from streams.worker.runtime import Runtime
from streams.worker.stored import StoredPatient, step
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
        if key in self.changed:
            return self.changed[key]
        return _load_patient(self.runtime.patients, key)

    async def apply(self, key: bytes, envelope: PatientEnvelope, pending: Pending, *, direct: bool) -> None:
        """One event through the core; a failure (a bug) dead-letters the record and the worker goes on."""
        try:
            current = self.current(key)
            result = step(current, envelope, self.runtime.rules, wall_now=self.wall_now, direct=direct)
        except Exception as exc:  # noqa: BLE001 - as in the agents: dead-letter, go on
            where = f"{pending.record.ref} (from {envelope.origin.describe()})"
            _log_failure("engine failed", where, exc)
            await _dead_letter_failure(self.runtime, self.delivery, pending.record, envelope.origin, exc)
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
