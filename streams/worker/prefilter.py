"""Input that lytewatch ignores is counted and dropped as it is fetched, before faust makes a message of it.

A hospital's lab feed is mostly other tests. For each record faust builds a `Message` and an `Event`, steps a
`Stream`, tracks and acknowledges an offset, and the engine buffers and orders it: about ten times what
decoding it costs (docs/BENCHMARKS.md, "Ignored input dropped as it is fetched"), to end up counted as
ignored. Here, in faust's consumer thread, every fetched record of the labs and orders topics is decoded (the
decode the engine runs) and dropped when it gives nothing but ignored items: no event, no rejected item, no
decode error. Anything else goes on to faust unchanged; what the filter decoded of it is kept for the engine
(`decoded`), which decodes only what the filter did not (records read back by the gap guard, the last of a
fetch, decode errors), so dead letters and their reasons stay where they were.

What keeps the guarantees:
- The last record of each partition in a fetch is always handed on: the engine's "caught up" (received
  against the high-water), the partition's commit and readiness's processed offsets reach the end.
- A record handed on after dropped ones carries the first dropped offset (`take`): the gap guard records
  that range as done with faust, so its commits move past it (also right after an assignment, where faust
  itself does not), and does not read it back as skipped.
- The dropped records are counted (input and ignored, with the reason the engine would give) when that
  record reaches the gap guard, on the loop thread in one go, so a scrape never sees half of it.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Mapping
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
# Entries whose record never reached the guard (a rebalance dropped it) are forgotten past this many.
_MAX_PENDING = 100_000
# Decoded messages waiting for the engine (~1.6 KB each): up to ~25,000 were in flight while the throughput
# bench drained its backlog. Past this many the oldest go (one never taken: faust discards a record fetched
# again after a seek back); a record whose note went is decoded by the engine.
_MAX_DECODED = 50_000

_filters: weakref.WeakKeyDictionary[Any, IgnoredInput] = weakref.WeakKeyDictionary()


class IgnoredInput:
    """The fetch filter of one worker app, and what it dropped before each record it handed on."""

    def __init__(self, settings: Settings, mapping: CodeMapping, metrics: Metrics) -> None:
        self.metrics = metrics
        self.kinds = {topic: kind for kind, topic in settings.input_topics.items() if kind in FILTERED_KINDS}
        self.tz = settings.tz
        self.mapping = mapping
        # (topic, partition, offset of a record handed on) -> (first offset dropped before it, their counts)
        self._before: dict[tuple[str, int, int], tuple[int, BatchTally]] = {}
        # (topic, partition, offset of a record handed on) -> what the filter decoded of it
        self._decoded: dict[tuple[str, int, int], Decoded] = {}
        self._lock = threading.Lock()

    def filter(self, records: Mapping[Any, list[Any]]) -> dict[Any, list[Any]]:
        """A fetch's records (aiokafka's TopicPartition -> ConsumerRecords) less the ignored ones."""
        out: dict[Any, list[Any]] = {}
        for tp, batch in records.items():
            kind = self.kinds.get(tp.topic)
            out[tp] = batch if kind is None or len(batch) < 2 else self._filter(kind, batch)
        return out

    def _filter(self, kind: Any, batch: list[Any]) -> list[Any]:
        kept: list[Any] = []
        first: int | None = None
        tally = BatchTally()
        last = len(batch) - 1
        decoded_kept: list[tuple[tuple[str, int, int], Decoded]] = []
        for n, record in enumerate(batch):
            decoded = self._decode(kind, record) if n < last else None
            if decoded is not None and not decoded.events and not decoded.rejected:
                # Nothing but ignored items: dropped, and counted as ingest would count it.
                if first is None:
                    first = record.offset
                tally.ignored_message(record.topic, decoded)
                continue
            where = (record.topic, record.partition, record.offset)
            if decoded is not None:
                decoded_kept.append((where, decoded))
            if first is not None:
                with self._lock:
                    if len(self._before) >= _MAX_PENDING:
                        self._before.clear()
                    self._before[where] = (first, tally)
                first, tally = None, BatchTally()
            kept.append(record)
        if decoded_kept:
            with self._lock:
                self._decoded.update(decoded_kept)
                excess = len(self._decoded) - _MAX_DECODED
                if excess > 0:
                    for key in list(itertools.islice(self._decoded, excess)):
                        del self._decoded[key]
        return kept

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
            for notes in (self._before, self._decoded):
                for key in [key for key in notes if key[:2] in partitions]:
                    del notes[key]

    def take(self, topic: str, partition: int, offset: int) -> int | None:
        """The first offset dropped right before this record (None if none), its dropped records counted."""
        with self._lock:
            entry = self._before.pop((topic, partition, offset), None)
        if entry is None:
            return None
        first, tally = entry
        tally.publish(self.metrics)
        return first


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
