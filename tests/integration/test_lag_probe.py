"""The consumer-lag probe closes its clients, even with the broker gone, and reads offsets when it is up."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.settings import Settings
from streams.worker.lag import partition_offsets
from tests.support.kafka import create_topics, produce
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def _open_clients() -> list[str]:
    """aiokafka consumers and admin clients alive and not closed (what a leaking probe leaves behind)."""
    gc.collect()
    return [
        type(each).__name__
        for each in gc.get_objects()
        if isinstance(each, AIOKafkaConsumer | AIOKafkaAdminClient)
        and getattr(each, "_closed", None) is False
    ]


def test_a_probe_of_a_broker_that_is_gone_leaves_no_client_open() -> None:
    settings = Settings(broker=f"kafka://127.0.0.1:{free_port()}")
    before = _open_clients()
    failures = []
    for _ in range(3):
        try:
            asyncio.run(partition_offsets(settings, "g", ["labs.results"]))
        except KafkaError as exc:
            failures.append(type(exc).__name__)

    assert failures == ["KafkaConnectionError"] * 3
    assert _open_clients() == before


def test_a_group_that_committed_nothing_is_at_zero_on_every_partition(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("lag")
    asyncio.run(create_topics(kafka_bootstrap, [topic], partitions=2))
    asyncio.run(produce(kafka_bootstrap, topic, [(b"a", b"1"), (b"a", b"2"), (b"a", b"3")]))
    settings = Settings(broker=f"kafka://{kafka_bootstrap}")

    offsets = asyncio.run(partition_offsets(settings, unique_name("group"), [topic]))

    assert set(offsets) == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    assert sum(end for end, _ in offsets.values()) == 3
    assert [committed for _, committed in offsets.values()] == [0, 0]
