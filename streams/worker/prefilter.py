"""Input that lytewatch ignores is counted and dropped as it is fetched, before faust makes a message of it;
on the one-hop path the rest is carried past faust's per-message layer to the engine.

A hospital's lab feed is mostly other tests. For each record faust builds a `Message` and an `Event`, steps a
`Stream`, tracks and acknowledges an offset, and the engine buffers and orders it: about ten times what
decoding it costs (docs/BENCHMARKS.md, "Ignored input dropped as it is fetched"), to end up counted as
ignored. Here, as faust's consumer returns a fetch, every fetched record of the labs and orders topics is
decoded (the decode the engine runs) and dropped when it gives nothing but ignored items: no event, no
rejected item, no decode error. What the filter decoded of the rest is kept for the engine (`decoded`),
which decodes only what the filter did not (records read back by the gap guard, the last of a fetch, decode
errors), so dead letters and their reasons stay where they were.

The rest goes on to faust unchanged on the re-key path. On the one-hop path (`carry`) it is *carried*: noted
with the next record handed on, which the engine receives from faust, and handed to the engine with it, as
the gap guard hands over records it read back (docs/BENCHMARKS.md, "Records carried past faust").

What keeps the guarantees:
- The last record of each partition in a fetch is always handed on: the engine's "caught up" (received
  against the high-water), the partition's commit and readiness's processed offsets reach the end.
- A record handed on after dropped or carried ones notes the first offset not handed on (`take`): the gap
  guard hands the engine the carried records before it and records the range as done with faust once the
  last of them is applied (at once when only dropped ones are in it), so its commits move past it (also
  right after an assignment, where faust itself does not), and does not read it back as skipped. A note
  lost (a rebalance, the bounds below) only costs a read-back: the guard reads the range from the broker.
- The dropped records are counted (input and ignored, with the reason the engine would give) when that
  record reaches the gap guard, on the loop thread in one go, so a scrape never sees half of it.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from alerts.codes import CodeMapping
from streams.codecs import Decoded, decode
from streams.metrics import Metrics
from streams.settings import Settings
from streams.worker import standby_handover
from streams.worker.tally import BatchTally

#: Input kinds whose traffic is mostly ignored (other tests, other drugs); ADT and acks are nearly all used.
FILTERED_KINDS = ("labs", "orders")
# Notes whose record never reached the guard (a rebalance dropped it) are forgotten past this many.
_MAX_PENDING = 10_000
# Decoded messages waiting for the engine (~1.6 KB each): up to ~25,000 were in flight while the throughput
# bench drained its backlog. Past this many the oldest go (one never taken: faust discards a record fetched
# again after a seek back); a record whose note went is decoded by the engine.
_MAX_DECODED = 50_000
# Records carried in notes at once (each holds its raw value): past this many, records are handed on to faust
# one by one until the engine has taken enough. Bounds the memory of a backlog fetched faster than applied.
_MAX_CARRIED = 20_000


@dataclass(slots=True)
class Note:
    """What the filter did with the records before one it handed on."""

    # The first offset not handed on.
    first: int
    # The dropped ones, counted.
    tally: BatchTally = field(default_factory=BatchTally)
    # The carried ones (aiokafka ConsumerRecords), in offset order.
    carried: list[Any] = field(default_factory=list)
    # Monotonic time of the fetch: when the carried records reached the worker.
    fetched_at: float = field(default_factory=time.monotonic)


_filters: weakref.WeakKeyDictionary[Any, IgnoredInput] = weakref.WeakKeyDictionary()


class IgnoredInput:
    """The fetch filter of one worker app, and what it dropped before each record it handed on."""

    def __init__(self, settings: Settings, mapping: CodeMapping, metrics: Metrics) -> None:
        self.metrics = metrics
        self.kinds = {topic: kind for kind, topic in settings.input_topics.items() if kind in FILTERED_KINDS}
        self.tz = settings.tz
        self.mapping = mapping
        # Set by the one-hop engine before the consumer starts: carry what is not dropped.
        self.carry = False
        # (topic, partition) -> offset of a record handed on -> what was dropped and carried before it
        self._before: dict[tuple[str, int], dict[int, Note]] = {}
        self._notes = 0
        self._carried = 0
        # (topic, partition, offset of a record handed on or carried) -> what the filter decoded of it
        self._decoded: dict[tuple[str, int, int], Decoded] = {}
        # The worker runs faust's consumer on its own loop (streams.worker.inloop); the lock keeps the filter
        # safe with faust's stock consumer thread too, and costs nothing uncontended.
        self._lock = threading.Lock()

    def filter(self, records: Mapping[Any, list[Any]]) -> dict[Any, list[Any]]:
        """A fetch's records (aiokafka's TopicPartition -> ConsumerRecords) less those dropped or carried."""
        out: dict[Any, list[Any]] = {}
        for tp, batch in records.items():
            kind = self.kinds.get(tp.topic)
            out[tp] = batch if kind is None or len(batch) < 2 else self._filter(kind, batch)
        return out

    def _filter(self, kind: Any, batch: list[Any]) -> list[Any]:
        kept: list[Any] = []
        notes: list[tuple[tuple[str, int, int], Note | None]] = []
        note: Note | None = None
        last = len(batch) - 1
        # Read without the lock: a bound, not an exact count.
        room = _MAX_CARRIED - self._carried if self.carry else 0
        decoded_kept: list[tuple[tuple[str, int, int], Decoded]] = []
        for n, record in enumerate(batch):
            decoded = self._decode(kind, record) if n < last else None
            if decoded is not None and not decoded.events and not decoded.rejected:
                # Nothing but ignored items: dropped, and counted as ingest would count it.
                if note is None:
                    note = Note(record.offset)
                note.tally.ignored_message(record.topic, decoded)
                continue
            where = (record.topic, record.partition, record.offset)
            if decoded is not None:
                decoded_kept.append((where, decoded))
            if n < last and room > 0:
                if note is None:
                    note = Note(record.offset)
                note.carried.append(record)
                room -= 1
                continue
            # Also where nothing came before it: a note left from an earlier fetch of this record is stale.
            notes.append((where, note))
            note = None
            kept.append(record)
        with self._lock:
            if self._notes >= _MAX_PENDING:
                self._forget_notes(self._noted())
            for where, each in notes:
                self._forget_notes([where])
                if each is not None:
                    self._before.setdefault(where[:2], {})[where[2]] = each
                    self._notes += 1
                    self._carried += len(each.carried)
            if decoded_kept:
                self._decoded.update(decoded_kept)
                excess = len(self._decoded) - _MAX_DECODED
                if excess > 0:
                    for key in list(itertools.islice(self._decoded, excess)):
                        del self._decoded[key]
        return kept

    def _noted(self, partitions: set[tuple[str, int]] | None = None) -> list[tuple[str, int, int]]:
        """(topic, partition, offset) of every note, or of those of these partitions."""
        return [
            (*tp, offset)
            for tp, notes_of in self._before.items()
            if partitions is None or tp in partitions
            for offset in notes_of
        ]

    def _forget_notes(self, keys: list[tuple[str, int, int]]) -> None:
        """Drop these notes (under the lock); their records are read back by the gap guard if still due."""
        for topic, partition, offset in keys:
            notes_of = self._before.get((topic, partition))
            note = notes_of.pop(offset, None) if notes_of else None
            if note is not None:
                self._notes -= 1
                self._carried -= len(note.carried)

    def _decode(self, kind: Any, record: Any) -> Decoded | None:
        """The record decoded as the engine would; None if it cannot be (the engine says why)."""
        if not record.value:
            return None
        try:
            return decode(kind, record.value, tz=self.tz, mapping=self.mapping)
        # Bad input, or a bug in a decoder: the engine decodes it again and dead-letters it with its reason.
        except Exception:  # noqa: BLE001
            return None

    def decoded(self, topic: str, partition: int, offset: int) -> Decoded | None:
        """What the filter decoded of a record it handed on (taken: asked once), None if it did not."""
        with self._lock:
            return self._decoded.pop((topic, partition, offset), None)

    def forget(self, tps: Any) -> None:
        """An assignment: faust fetches these partitions again from their commits, and notes them anew.

        A note left from before (its record was fetched as the rebalance began and discarded) would count its
        dropped records a second time if the record came again with them noted under another record.
        """
        partitions = {(tp.topic, tp.partition) for tp in tps}
        with self._lock:
            self._forget_notes(self._noted(partitions))
            for key in [key for key in self._decoded if key[:2] in partitions]:
                del self._decoded[key]

    def discard(self, topic: str, partition: int, offset: int) -> None:
        """Forget the note of a record the engine does not take (it had it already): nothing counted."""
        with self._lock:
            self._forget_notes([(topic, partition, offset)])

    def take(self, topic: str, partition: int, offset: int) -> Note | None:
        """What was dropped and carried right before this record (None if nothing); the dropped counted."""
        with self._lock:
            notes_of = self._before.get((topic, partition), {})
            note = notes_of.get(offset)
            # Also the notes of earlier records of the partition: they can no longer be taken (their
            # records were fetched, then dropped by faust for a pause, and fetched again after a seek back).
            self._forget_notes([(topic, partition, earlier) for earlier in notes_of if earlier <= offset])
        if note is not None:
            note.tally.publish(self.metrics)
        return note


def of(app: Any) -> IgnoredInput | None:
    return _filters.get(app)


async def _fetch_records_without_ignored(self: Any, consumer: Any, active_partitions: Any, **kw: Any) -> Any:
    fetch = standby_handover.fetch_records_of_unpaused_partitions
    records = await fetch(self, consumer, active_partitions, **kw)
    ignored = _filters.get(self.app)
    return ignored.filter(records) if ignored is not None and records else records


def apply(app: Any, settings: Settings, mapping: CodeMapping, metrics: Metrics) -> IgnoredInput:
    """Filter the fetches of `app`'s consumer (after streams.worker.standby_handover's view is applied)."""
    ignored = _filters[app] = IgnoredInput(settings, mapping, metrics)
    AIOKafkaConsumerThread._fetch_records = _fetch_records_without_ignored  # type: ignore[method-assign,assignment]
    return ignored
