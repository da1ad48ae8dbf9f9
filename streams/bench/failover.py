"""The failover phase of `lytewatch bench`: SIGKILL one of two workers; time the first alert from its part."""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata

from streams.bench.broker import BenchError, Phase, WorkerProcess, free_port
from streams.bench.phases import Figures, paced_feed
from streams.kafka import admin_client, client_options
from streams.settings import Settings

#: Feed rate during the failover phase (events/s, a fifth of them from the alerting cohort).
FEED_RATE = 500.0
#: Patients of the alerting cohort: enough that every partition has alerting patients.
COHORT_PATIENTS = 600


async def group_assignment(admin: AIOKafkaAdminClient, group: str, topic: str) -> dict[str, set[int]]:
    """Worker URL -> the partitions of `topic` it owns, from a stable group (faust puts each member's URL in
    its subscription metadata); empty while the group is rebalancing. `admin` is started."""
    (response,) = await admin.describe_consumer_groups([group])
    (described,) = response.groups
    state, members = described[2], described[5]
    if state != "Stable":
        return {}
    owned: dict[str, set[int]] = {}
    for member in members:
        url = json.loads(ConsumerProtocolMemberMetadata.decode(member[3]).user_data)["url"].rstrip("/")
        assignment = ConsumerProtocolMemberAssignment.decode(member[4])
        owned[url] = {tp.partition for tp in assignment.partitions() if tp.topic == topic}
    return owned


async def _split(phase: Phase, workers: list[WorkerProcess], limit_s: float = 180.0) -> dict[str, set[int]]:
    """Until the group is stable with every worker owning some lab partitions."""
    deadline = time.monotonic() + limit_s
    urls = {w.url for w in workers}
    while time.monotonic() < deadline:
        for worker in workers:
            worker.check_alive()
        admin = admin_client(phase.settings)
        await admin.start()
        try:
            owned = await group_assignment(admin, phase.settings.app_id, phase.settings.input_topics["labs"])
        finally:
            await admin.close()
        if set(owned) == urls and all(owned.values()):
            return owned
        await asyncio.sleep(0.5)
    raise BenchError(f"the two workers did not split the partitions in {limit_s:.0f} s")


async def _first_alert_ms(
    settings: Settings, partitions: set[int], after_ms: int, survivor: WorkerProcess, limit_s: float
) -> int:
    """Kafka timestamp of the first alert record written after `after_ms` to one of `partitions`."""
    topic = settings.topic_alerts
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    reader = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign(tps)
        for tp, found in (await reader.offsets_for_times(dict.fromkeys(tps, after_ms))).items():
            if found is None:
                await reader.seek_to_end(tp)
            else:
                reader.seek(tp, found.offset)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            survivor.check_alive()
            batch = await reader.getmany(timeout_ms=200)
            stamps = [r.timestamp for records in batch.values() for r in records if r.timestamp > after_ms]
            if stamps:
                return min(stamps)
        raise BenchError(f"no alert from the killed worker's partitions within {limit_s:.0f} s of the kill")
    finally:
        await reader.stop()


async def failover(base: Settings, run_id: str, feed_seconds: float) -> Figures:
    """Two workers of one group under a steady alerting feed; SIGKILL one once alerts flow from its
    partitions; seconds from the kill to the first alert record (Kafka timestamp) on one of them."""
    if base.partitions < 2:
        return {
            "failover_seconds": None,
            "failover_reason": "needs at least 2 partitions (LYTEWATCH_PARTITIONS)",
        }
    phase = Phase.create(base, run_id, "fail")
    try:
        await phase.create_topics()
        victim = WorkerProcess(phase, "victim", phase.workdir / "victim-data", web_port=free_port())
        survivor = WorkerProcess(phase, "survivor", phase.workdir / "survivor-data", web_port=free_port())
        feeding: asyncio.Task[object] | None = None
        try:
            await victim.wait_ready()
            await survivor.wait_ready()
            owned = (await _split(phase, [victim, survivor]))[victim.url]
            topics = phase.settings.input_topics
            feeding = asyncio.create_task(
                paced_feed(phase.settings, topics, FEED_RATE, feed_seconds, COHORT_PATIENTS)
            )
            # Alerts flow from the victim's partitions before it is killed: the feed has reached them.
            warm = int(time.time() * 1000)
            await _first_alert_ms(phase.settings, owned, warm, victim, limit_s=feed_seconds / 2)
            victim.kill()
            # Taken once the victim is reaped: any alert stamped later is the survivor's.
            killed_ms = int(time.time() * 1000)
            first_ms = await _first_alert_ms(phase.settings, owned, killed_ms, survivor, limit_s=feed_seconds)
        finally:
            if feeding is not None:
                feeding.cancel()
                await asyncio.gather(feeding, return_exceptions=True)
            victim.stop()
            survivor.stop()
        return {
            "failover_seconds": round((first_ms - killed_ms) / 1000.0, 2),
            "failover_partitions_moved": len(owned),
            "failover_standby_replicas": base.standby_replicas,
            "failover_feed_events_per_s": FEED_RATE,
        }
    finally:
        await phase.delete()
