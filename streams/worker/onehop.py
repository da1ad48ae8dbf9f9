"""The one-hop engine agent: every input topic and patient-events, per partition number, in record-timestamp
order -> decode -> core -> alerts + state; only input not keyed by its patient goes round patient-events.

Records are buffered per partition group (streams.worker.ordering) and acknowledged to faust only once
applied, so a crash re-delivers whatever was buffered but not applied. A buffered record is not "in
progress" for faust (a rebalance or shutdown does not wait for it); a rebalance drops the buffers, and the
group re-delivers from the last commit. The per-patient offset memory (streams.worker.stored) skips what
was applied before; the gap guard (streams.worker.gaps) supplies offsets faust skipped, in partition order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from aiokafka.partitioner import murmur2
from faust.types import TP

from streams.codecs import InputKind
from streams.worker.agents import BATCH_MAX, BATCH_WINDOW_S
from streams.worker.batch_io import dead_letter_failure, delivery_for, log_failure, origin_of
from streams.worker.catch_up import CatchUpCommit
from streams.worker.engine_batch import Batch, Pending
from streams.worker.envelope import encode_envelope
from streams.worker.failstop import stop_without_commit
from streams.worker.gaps import GapGuard, record_of
from streams.worker.ingest import ingest_decoded, ingest_message
from streams.worker.ordering import PartitionGroup
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)

# Ties between equal record timestamps: the admission before the order placed in it, the order before the
# result it explains, acknowledgements last; events re-keyed through patient-events after every input.
TIE_ORDER = ("adt", "orders", "labs", "acks")
# Kafka Streams' buffered.records.per.partition: a partition this far ahead is paused until half drained.
MAX_BUFFERED = 1000
# Records applied as one batch at most. Up to BATCH_MAX arrive per take, but a backlog leaves more buffered:
# one batch for all of it writes a patient seen twice once and waits for the broker's acks once.
PICK_MAX = 2000
_PARTITION_CACHE_MAX = 100_000


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if seconds is not None else None


class OneHopEngine:
    """Partition groups of buffered records, and the application of the next ones in order."""

    def __init__(self, runtime: Runtime, guard: GapGuard) -> None:
        self.runtime = runtime
        self.guard = guard
        settings = runtime.settings
        self.kinds = {topic: cast(InputKind, kind) for kind, topic in settings.input_topics.items()}
        self.patient_events = settings.topic_patient_events
        self.order = [settings.input_topics[kind] for kind in TIE_ORDER] + [self.patient_events]
        self.idle_s = settings.max_task_idle_ms / 1000
        self.groups: dict[int, PartitionGroup[Pending]] = {}
        # topic-partition -> the offset after the last record received (what "caught up" is measured by)
        self.received: dict[Any, int] = {}
        self.paused: set[Any] = set()
        self.lock = asyncio.Lock()
        self.stream: Any = None
        self._partitions: dict[bytes, int] = {}
        self.catch_up = CatchUpCommit()

    # --- receiving ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """A rebalance: forget everything buffered (it is re-delivered from the last commit).

        What this engine paused stays in `paused`: faust keeps a partition paused across a rebalance when
        it stays assigned, so `_flow` must still resume it (its buffer is empty now).
        """
        dropped = sum(len(group.clear()) for group in self.groups.values())
        if dropped:
            log.info("rebalance: %d buffered records dropped, to be re-delivered from the commits", dropped)
        self.groups.clear()
        self.received.clear()

    def group(self, partition: int) -> PartitionGroup[Pending]:
        group = self.groups.get(partition)
        if group is None:
            group = self.groups[partition] = PartitionGroup(self.order, self.idle_s)
        return group

    async def receive(self, events: Sequence[Any]) -> None:
        """Buffer faust's events (and any records faust skipped before them) in their partition groups."""
        app = self.runtime.app
        unacked = app.consumer.unacked
        for event in events:
            message = event.message
            # Buffered is not yet being processed: faust must not wait for it in a rebalance or shutdown
            # (faust's stream keeps a reference to its last event, so it would wait forever).
            unacked.discard(message)
            if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
                # Delivered as a rebalance or shutdown began: the group re-delivers it from the last commit.
                self._discard_note(message)
                continue
            if message.offset < self.received.get(message.tp, -1):
                # Already buffered: delivered again after a resumed partition was sought back.
                self._discard_note(message)
                continue
            # Records faust skipped, and those the fetch filter carried past faust (streams.worker.prefilter).
            missing, done = await self.guard.read_missing(message)
            group = self.group(message.partition)
            for n, record in enumerate(missing):
                last = n == len(missing) - 1
                pending = Pending(record, None, event, done if last else None)
                group.add(record.topic, _ms(record.timestamp), record.offset, pending)
            record = record_of(message)
            group.add(record.topic, _ms(record.timestamp), record.offset, Pending(record, event, event))
            self.received[message.tp] = message.offset + 1
        await self._flow()

    def _discard_note(self, message: Any) -> None:
        if self.guard.ignored is not None:
            self.guard.ignored.discard(message.topic, message.partition, message.offset)

    def _caught_up_in(self, partition: int, topic: str) -> bool:
        return self.caught_up(topic, partition)

    def _behind_in(self, partition: int, topic: str) -> bool:
        return self.behind(topic, partition)

    def _describe_wait(self, partition: int, topics: tuple[str, ...]) -> str:
        """`topic[p]` (received up to N of high-water H) for each partition a group gave up on."""
        consumer: Any = self.runtime.app.consumer
        out = []
        for topic in topics:
            tp = TP(topic, partition)
            try:
                highwater = consumer.highwater(tp)
            except Exception as exc:  # noqa: BLE001 - for the log line only
                highwater = type(exc).__name__
            out.append(
                f"{topic}[{partition}] (received up to {self.received.get(tp)} of high-water {highwater})"
            )
        return "; ".join(out)

    def _progress(self, topic: str, partition: int) -> tuple[int | None, int | None]:
        """(next offset received, high-water) of a partition; None where not known."""
        tp = TP(topic, partition)
        consumer: Any = self.runtime.app.consumer
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - not assigned (any more) or not fetched yet: unknown
            return None, None
        position = self.received.get(tp)
        if position is None:
            position = consumer._committed_offset.get(tp)
        return position, highwater

    def caught_up(self, topic: str, partition: int) -> bool:
        """True when the partition is known to have nothing more on the broker than was received."""
        position, highwater = self._progress(topic, partition)
        if highwater is None:
            return False
        return bool(highwater == 0 if position is None else position >= highwater)

    def behind(self, topic: str, partition: int) -> bool:
        """True when the broker is known to hold records of the partition past what was received.

        A gap of one offset does not count: a transactional producer ends each transaction with a control
        record that is never delivered, so a partition it writes to stays one offset short of its high-water
        when caught up. Waiting for it without limit would stop the group for good; it gets the idle time.
        """
        position, highwater = self._progress(topic, partition)
        return highwater is not None and position is not None and highwater - position > 1

    async def _flow(self) -> None:
        """Pause partitions that run ahead of their group, resume them once they have drained to half.

        faust drops records it had already fetched for a partition paused meanwhile (its fetch position has
        moved past them), so a resumed partition is first sought back to the offset after the last record
        this engine received: nothing is skipped, and what comes twice is recognised in `receive`.
        """
        app = self.runtime.app
        if not app.flow_control.is_active() or not self.runtime.recovery.completed.is_set():
            return
        assigned = app.consumer.assignment()
        # Paused before a rebalance and no longer ours: nothing to resume.
        self.paused &= assigned
        over, under = set(), set()
        for tp in self.paused:
            group = self.groups.get(tp.partition)
            if group is None or group.size(tp.topic) <= MAX_BUFFERED // 2:
                under.add(tp)
        for partition, group in self.groups.items():
            for topic in group.topics:
                if group.size(topic) >= MAX_BUFFERED:
                    over.add(TP(topic, partition))
                    under.discard(TP(topic, partition))
        if over:
            # Re-asserted each time: faust resumes every partition when a recovery ends.
            app.consumer.pause_partitions(over)
            self.paused |= over
        if under:
            for tp in under:
                if tp in self.received:
                    await app.consumer.seek(tp, self.received[tp])
            app.consumer.resume_partitions(under)
            self.paused -= under

    # --- applying -------------------------------------------------------------------------------------

    def _pick(self) -> list[Pending]:
        """Up to a batch of records, the next ones of each group in turn."""
        now = time.monotonic()
        picked: list[Pending] = []
        enforced_before = sum(group.enforced for group in self.groups.values())
        asks = [
            (
                group,
                functools.partial(self._caught_up_in, partition),
                functools.partial(self._behind_in, partition),
            )
            for partition, group in self.groups.items()
        ]
        # Runs of a group's records in turn, so that no partition waits for another one's backlog.
        share = max(1, PICK_MAX // max(1, len(asks)))
        progress = True
        while progress and len(picked) < PICK_MAX:
            progress = False
            for group, caught_up, behind in asks:
                run = group.pop_run(now, caught_up, behind, min(share, PICK_MAX - len(picked)))
                if run:
                    picked.extend(entry.item for entry in run)
                    progress = True
                if len(picked) >= PICK_MAX:
                    break
        enforced = sum(group.enforced for group in self.groups.values()) - enforced_before
        if enforced:
            self.runtime.metrics.order_enforced.inc(enforced)
            log.info(
                "%d records applied without waiting longer (LYTEWATCH_MAX_TASK_IDLE_MS) for %s: their "
                "order across topics is not guaranteed",
                enforced,
                ", ".join(
                    self._describe_wait(p, g.gave_up_on) for p, g in self.groups.items() if g.gave_up_on
                ),
            )
        return picked

    async def drain(self) -> None:
        """Apply every record whose turn has come; what waits for another partition stays buffered."""
        app = self.runtime.app
        async with self.lock:
            while app.flow_control.is_active():
                picked = self._pick()
                if not picked:
                    break
                unacked = app.consumer.unacked
                for pending in picked:
                    if pending.event is not None:
                        # Now in progress: a rebalance waits for it to be applied and acknowledged.
                        unacked.add(pending.event.message)
                await self._apply(picked)
                self.catch_up.applied()
            await self._flow()
            self.maybe_commit()

    def maybe_commit(self) -> None:
        """A commit asked for now if everything received is applied and the broker has nothing more."""
        if not any(len(group) for group in self.groups.values()):
            self.catch_up.maybe(self.runtime.app.consumer, self.order, self.caught_up)

    async def _apply(self, picked: list[Pending]) -> None:
        try:
            await self._apply_batch(picked)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the batch must not be committed
            stop_without_commit("engine agent", picked[0].record.ref, exc)

    async def _apply_batch(self, picked: list[Pending]) -> None:
        batch = Batch(self.runtime, delivery_for(self.runtime))
        now = datetime.now(UTC)
        for pending in picked:
            if pending.record.topic == self.patient_events:
                await batch.apply_internal(pending)
            else:
                await self._input(batch, pending, now)
        await batch.settle()
        for pending in picked:
            if pending.event is not None:
                await self.stream.ack(pending.event)
            if pending.done_range is not None:
                await self.guard.mark_done(*pending.done_range)
        batch.report(pending.record for pending in picked)

    def _partition_of(self, key: bytes) -> int:
        """Kafka's default partitioner (murmur2) over the table's partitions, as producers key patients."""
        partition = self._partitions.get(key)
        if partition is None:
            if len(self._partitions) >= _PARTITION_CACHE_MAX:
                self._partitions.clear()
            partition = (murmur2(key) & 0x7FFFFFFF) % self.runtime.settings.partitions
            self._partitions[key] = partition
        return partition

    async def _input(self, batch: Batch, pending: Pending, now: datetime) -> None:
        """An input message: decoded; its events applied here if keyed by their patient, else re-keyed."""
        runtime = self.runtime
        record = pending.record
        origin = origin_of(record)
        ignored = self.guard.ignored
        decoded = ignored.decoded(record.topic, record.partition, record.offset) if ignored else None
        try:
            if decoded is not None:
                outcome = ingest_decoded(decoded, record.value, origin, key=record.key, now=now)
            else:
                outcome = ingest_message(
                    self.kinds[record.topic],
                    record.value,
                    origin,
                    key=record.key,
                    tz=runtime.settings.tz,
                    mapping=runtime.mapping,
                    now=now,
                )
            for envelope in outcome.forward:
                key = envelope.event.patient_id.encode()
                if record.key == key and self._partition_of(key) == record.partition:
                    await batch.apply(key, envelope, pending, direct=True)
                    continue
                # The internal record keeps the input's timestamp: its group orders it by that.
                value = encode_envelope(envelope)
                delivered = await runtime.app.producer.send(
                    self.patient_events, key, value, None, record.timestamp, None
                )
                batch.delivery.track(delivered, self.patient_events, key, value)
                batch.rekeyed[record.topic] += 1
            for reason, deadletter in outcome.deadletters:
                await batch.delivery.deadletter(record.key, deadletter)
                log.warning("dead-lettered %s: %s", record.ref, reason.value)
        # A bug must not stop the worker: the message is kept as a dead letter instead.
        except Exception as exc:  # noqa: BLE001
            log_failure("ingest failed", record.ref, exc)
            await dead_letter_failure(runtime, batch.delivery, record, origin, exc)
            batch.tally.failed(record.topic, "ingest")
            return
        batch.tally.ingested(record.topic, outcome)


def register_one_hop(runtime: Runtime, guard: GapGuard) -> OneHopEngine:
    """The engine agent over every input topic and patient-events, and its idle timer."""
    engine = OneHopEngine(runtime, guard)
    channel = runtime.app.topic(
        *runtime.settings.input_topics.values(),
        runtime.patient_events.get_topic_name(),
        key_type=bytes,
        value_type=bytes,
        partitions=runtime.settings.partitions,
    )

    async def run(stream: Any) -> None:
        engine.stream = stream
        async for events in stream.noack_take(BATCH_MAX, within=BATCH_WINDOW_S):
            await engine.receive(events)
            await engine.drain()

    runtime.app.agent(channel, name="lytewatch.engine")(run)

    # Applies what waited for an idle partition when no new record arrives to trigger it, and asks for the
    # catch-up commit of records applied too soon after the last one.
    @runtime.app.timer(interval=min(0.1, max(0.01, engine.idle_s / 4)), name="lytewatch.engine-idle")
    async def idle() -> None:
        # Not while the agent drains: it goes on until nothing is ready, so this tick has nothing to add.
        if engine.stream is None or engine.lock.locked():
            return
        if any(len(group) for group in engine.groups.values()):
            await engine.drain()
        else:
            engine.maybe_commit()

    @runtime.app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        engine.reset()

    return engine
