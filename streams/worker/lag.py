"""End and committed offsets of a consumer group per partition, read by clients that are always closed."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka import admin_client, consumer
from streams.settings import Settings


async def partition_offsets(
    settings: Settings, group: str, topics: Iterable[str]
) -> dict[TopicPartition, tuple[int, int]]:
    """(end offset, the group's committed offset or 0) for every partition of `topics`.

    Both clients are closed whatever happens, also when the broker is gone and they never start: a probe
    that ran every few seconds during an outage used to leave one admin client and one consumer behind.
    """
    admin = admin_client(settings)
    probe = consumer(settings, enable_auto_commit=False)
    try:
        await admin.start()
        await probe.start()
        committed = await admin.list_consumer_group_offsets(group)
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in (probe.partitions_for_topic(topic) or await _partitions(probe, topic))
        ]
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()
        await admin.close()
    offsets = {}
    for tp in partitions:
        meta = committed.get(tp)
        offsets[tp] = (ends[tp], meta.offset if meta is not None and meta.offset >= 0 else 0)
    return offsets


async def _partitions(probe: AIOKafkaConsumer, topic: str) -> set[int]:
    client = probe._client
    await client.force_metadata_update()
    return client.cluster.partitions_for_topic(topic) or set()
