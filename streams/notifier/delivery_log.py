"""The notifier's delivery log (what was sent, on a compacted topic) and the topics it needs."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from alerts.notifier.policy import identity_of_key
from streams import kafka
from streams.settings import Settings
from streams.topics import topic_specs

log = logging.getLogger("lytewatch.notifier")


class DeliveryLog:
    """What has been delivered (or dead-lettered): the compacted log topic, indexed by delivery identity."""

    def __init__(self) -> None:
        self._done: dict[str, dict[str, Any]] = {}

    def add(self, key: str, record: dict[str, Any]) -> None:
        self._done[identity_of_key(key)] = record

    def has(self, identity: str) -> bool:
        return identity in self._done

    def __len__(self) -> int:
        return len(self._done)


async def read_delivery_log(settings: Settings, topic: str) -> DeliveryLog:
    """Read the delivery-log topic from the beginning to its current end."""
    book = DeliveryLog()
    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [p["partition"] for d in described if d.get("error_code", 0) == 0 for p in d["partitions"]]
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    if not tps:
        return book
    consumer = kafka.consumer(settings, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if end[tp] > 0}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=500, max_records=10_000)
            for records in batch.values():
                for record in records:
                    if record.key is None or record.value is None:
                        continue
                    try:
                        book.add(record.key.decode(), json.loads(record.value))
                    except ValueError:  # a foreign record must not keep the notifier from starting
                        log.warning("delivery log: skipping unreadable record at offset %d", record.offset)
            todo = {tp for tp in todo if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()
    return book


async def ensure_notifier_topics(settings: Settings) -> None:
    """Create the alerts, delivery-log (compacted) and dead-letter topics if they are missing."""
    wanted = {settings.topic_alerts, settings.topic_notifier_log, settings.topic_notifier_deadletter}
    admin = kafka.admin_client(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        for spec in topic_specs(settings):
            if spec.name in wanted and spec.name not in existing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.config)]
                    )
    finally:
        await admin.close()
