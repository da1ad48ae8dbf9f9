"""The gap guard reads, from the real broker, the offsets faust skipped, hands over the records the fetch
filter carried past faust, and tells faust they are done."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from alerts.codes import DEFAULT_MAPPING
from streams.metrics import Metrics
from streams.settings import load_settings
from streams.worker.gaps import GapGuard
from streams.worker.prefilter import IgnoredInput
from tests.support.kafka import create_topics, produce

pytestmark = pytest.mark.integration


@dataclass
class FaustBookkeeping:
    """The two pieces of faust's consumer state the guard touches: committed offsets and done ranges."""

    _committed_offset: dict[TopicPartition, int] = field(default_factory=dict)
    gaps: list[tuple[TopicPartition, int, int]] = field(default_factory=list)

    async def _add_gap(self, tp: TopicPartition, start: int, end: int) -> None:
        self.gaps.append((tp, start, end))


@dataclass
class Delivered:
    """A message as faust hands it to an agent."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes = b""
    timestamp: float | None = None
    time_in: float | None = None

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


def test_skipped_offsets_are_read_in_order_and_marked_done(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("gaps")
    asyncio.run(create_topics(kafka_bootstrap, [topic], partitions=1))
    asyncio.run(produce(kafka_bootstrap, topic, [(b"k", f"m{n}".encode()) for n in range(10)]))
    settings = load_settings({"LYTEWATCH_BROKER": f"kafka://{kafka_bootstrap}"})
    faust = FaustBookkeeping({TopicPartition(topic, 0): 3})
    guard = GapGuard(settings, faust)

    async def deliver(offset: int) -> list[Any]:
        return await guard.missing_before(Delivered(topic, 0, offset))

    # Offsets 3 and 4 arrive as they should: nothing missing.
    assert asyncio.run(deliver(3)) == []
    assert asyncio.run(deliver(4)) == []
    # faust jumps from 4 to 8: 5, 6 and 7 are read directly, in order, and recorded as done.
    missing = asyncio.run(deliver(8))
    assert [(r.offset, r.value) for r in missing] == [(5, b"m5"), (6, b"m6"), (7, b"m7")]
    assert faust.gaps == [(TopicPartition(topic, 0), 5, 7)]
    # A re-delivery of something older is not a gap.
    assert asyncio.run(deliver(6)) == []
    assert asyncio.run(deliver(9)) == []


def test_the_first_message_after_an_assignment_is_checked_against_the_commit(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("gaps-head")
    asyncio.run(create_topics(kafka_bootstrap, [topic], partitions=1))
    asyncio.run(produce(kafka_bootstrap, topic, [(b"k", f"m{n}".encode()) for n in range(6)]))
    settings = load_settings({"LYTEWATCH_BROKER": f"kafka://{kafka_bootstrap}"})
    tp = TopicPartition(topic, 0)
    faust = FaustBookkeeping({tp: 2})
    guard = GapGuard(settings, faust)
    missing = asyncio.run(guard.missing_before(Delivered(topic, 0, 4)))
    assert [r.offset for r in missing] == [2, 3]
    # After a rebalance the guard trusts the new commit again instead of its own memory.
    guard.forget([tp])
    faust._committed_offset[tp] = 5
    assert asyncio.run(guard.missing_before(Delivered(topic, 0, 5))) == []


def test_records_carried_past_faust_follow_a_skip_read_back_and_the_range_is_done_only_once_applied(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("gaps-carried")
    asyncio.run(create_topics(kafka_bootstrap, [topic], partitions=1))
    values = [f"m{n}".encode() for n in range(10)]
    asyncio.run(produce(kafka_bootstrap, topic, [(b"k", value) for value in values]))
    settings = load_settings(
        {"LYTEWATCH_BROKER": f"kafka://{kafka_bootstrap}", "LYTEWATCH_TOPIC_LABS": topic}
    )
    tp = TopicPartition(topic, 0)
    ignored = IgnoredInput(settings, DEFAULT_MAPPING, Metrics(CollectorRegistry()))
    ignored.carry = True
    # Fetched from offset 6 (4 and 5 skipped by faust): undecodable values, so none is dropped; 6-8 carried.
    fetched = [ConsumerRecord(topic, 0, n, 0, 0, b"k", values[n], None, 2, 2, []) for n in range(6, 10)]
    assert [r.offset for r in ignored.filter({tp: fetched})[tp]] == [9]
    faust = FaustBookkeeping({tp: 4})
    guard = GapGuard(settings, faust, ignored)

    records, done = asyncio.run(guard.read_missing(Delivered(topic, 0, 9)))
    # The skip read back from the broker, then the carried records: the partition's order.
    assert [(r.offset, r.value) for r in records] == [(n, values[n]) for n in range(4, 9)]
    # One range, for the engine to mark done once the last of them is applied; nothing marked before.
    assert done == (tp, 4, 8)
    assert faust.gaps == []
