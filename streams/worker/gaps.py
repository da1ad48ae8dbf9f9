"""Find and read input offsets faust skipped after a restart or rebalance, so that no message is lost.

faust-streaming can clear its in-memory queues after table recovery while the fetcher has moved past the
committed offset (faust-streaming #596): the first messages of a partition are then never handed to the
agent, and faust, missing their acknowledgements, stops committing that partition. Topics here are neither
compacted nor transactional, so their offsets are contiguous: a jump is a skip. The guard reads the
skipped range directly, hands it to the agent before the message that revealed it (keeping the partition's
order), and records it with faust as done so commits go on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from streams.kafka import consumer
from streams.logs import message_ref
from streams.settings import Settings
from streams.worker.prefilter import IgnoredInput

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Record:
    """What an agent needs of one Kafka message, whether faust delivered it or the guard read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: float | None
    # Monotonic time the worker received it, for processing latency.
    time_in: float

    @property
    def ref(self) -> str:
        return message_ref(self.topic, self.partition, self.offset)


def record_of(message: Any) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value or b"",
        timestamp=message.timestamp,
        time_in=message.time_in or time.monotonic(),
    )


def _record(item: Any, time_in: float) -> Record:
    """An aiokafka ConsumerRecord as a Record (its timestamp in ms)."""
    return Record(
        topic=item.topic,
        partition=item.partition,
        offset=item.offset,
        key=item.key,
        value=item.value or b"",
        timestamp=item.timestamp / 1000 if item.timestamp else None,
        time_in=time_in,
    )


class GapGuard:
    """Per agent: the next offset each partition should deliver, and the reading of skipped ranges."""

    def __init__(self, settings: Settings, faust_consumer: Any, ignored: IgnoredInput | None = None) -> None:
        self.settings = settings
        self.faust_consumer = faust_consumer
        # The fetch filter (streams.worker.prefilter): what it dropped is no skip, and is counted here.
        self.ignored = ignored
        self._next: dict[tuple[str, int], int] = {}

    def forget(self, tps: Any) -> None:
        """After a rebalance another worker may have moved these partitions on: trust the commits again."""
        for tp in tps:
            self._next.pop((tp.topic, tp.partition), None)
        if self.ignored is not None:
            self.ignored.forget(tps)

    async def missing_before(self, message: Any) -> list[Record]:
        """The records skipped between what this partition should deliver next and `message`.

        The skipped range is recorded as done with faust at once: for agents that process what they are
        handed before they take more.
        """
        records, done = await self.read_missing(message)
        if done is not None:
            await self.mark_done(*done)
        return records

    async def read_missing(self, message: Any) -> tuple[list[Record], tuple[Any, int, int] | None]:
        """The skipped and carried records, and the (tp, first, last) range to `mark_done` once they are all
        applied.

        The range is None when nothing was skipped or carried, or when a skipped range could not be read
        whole: then the partition's commits stay stuck (never past what was not processed), which the
        consumer-lag alert shows, and a restart re-reads from the last commit.
        """
        key = (message.topic, message.partition)
        expected = self._next.get(key)
        if expected is None:
            # Right after an assignment the committed offset is where delivery must start.
            expected = self.faust_consumer._committed_offset.get(message.tp)
        self._next[key] = max(message.offset + 1, expected or 0)
        end = message.offset
        carried: list[Record] = []
        if self.ignored is not None:
            note = self.ignored.take(message.topic, message.partition, message.offset)
            if note is not None:
                start = max(note.first, expected or 0)
                # Records before `expected` were handed over already (a fetch again after a seek back).
                carried = [_record(r, note.fetched_at) for r in note.carried if r.offset >= start]
                if not carried:
                    # Only ignored records dropped as they were fetched: done, nothing to read.
                    await self.mark_done(message.tp, start, message.offset - 1)
                end = note.first
        if expected is None or end <= expected:
            if not carried:
                return [], None
            return carried, (message.tp, end if expected is None else expected, message.offset - 1)
        records = await self._read(message.topic, message.partition, expected, end)
        complete = [r.offset for r in records] == list(range(expected, end))
        log.warning(
            "faust skipped %s offsets %d-%d; read %d of them directly",
            message.topic,
            expected,
            end - 1,
            len(records),
        )
        if not complete:
            log.error("%s: offsets %d-%d could not all be read", message.topic, expected, end - 1)
            return records + carried, None
        return records + carried, (message.tp, expected, message.offset - 1 if carried else end - 1)

    async def mark_done(self, tp: Any, first: int, last: int) -> None:
        """Record a read range as done with faust, like a compacted range, so its commits move past it."""
        await self.faust_consumer._add_gap(tp, first, last)

    async def _read(self, topic: str, partition: int, start: int, end: int) -> list[Record]:
        reader = consumer(self.settings, enable_auto_commit=False)
        await reader.start()
        tp = TopicPartition(topic, partition)
        records: list[Record] = []
        try:
            reader.assign([tp])
            reader.seek(tp, start)
            deadline = time.monotonic() + READ_TIMEOUT_S
            while (not records or records[-1].offset < end - 1) and time.monotonic() < deadline:
                batch = await reader.getmany(tp, timeout_ms=500)
                records.extend(
                    _record(item, time.monotonic()) for item in batch.get(tp, []) if item.offset < end
                )
        finally:
            await reader.stop()
        return records
