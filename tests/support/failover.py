"""Several workers of one group on the real broker: who owns which partition, the workload, the comparison."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata

from streams.feeds.produce import encode_value, envelope_key
from tests.support.drain import INPUTS
from tests.support.ports import free_port
from tests.support.processes import Process, WorkerEnv, wait_until_ready
from tests.support.waiting import eventually

PARTITIONS = 6
Envelope = dict[str, Any]
AlertKey = tuple[str, int]


def replay_envelopes(
    orders: Iterable[tuple[bytes, Any]], labs: Iterable[tuple[bytes, Any]]
) -> list[Envelope]:
    """The crash test's workload as replay-file envelopes: every order, then every lab result."""
    return [{"topic": "meds.orders", "value": value} for _, value in orders] + [
        {"topic": "labs.results", "value": value} for _, value in labs
    ]


def backlog_start_ms(envelopes: list[Envelope]) -> int:
    """A first CreateTime that leaves every envelope a millisecond of its own before now."""
    return int(time.time() * 1000) - len(envelopes) - 60_000


def produce_in_order(env: WorkerEnv, envelopes: list[Envelope], start_ms: int, first: int = 0) -> None:
    """Envelopes `first`.. keyed by their patient, CreateTime `start_ms` + their index: file order."""
    asyncio.run(_produce(env, envelopes[first:], start_ms + first))


async def _produce(env: WorkerEnv, envelopes: list[Envelope], start_ms: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        for n, envelope in enumerate(envelopes):
            await producer.send(
                env.topics[INPUTS[envelope["topic"]]],
                encode_value(envelope["value"]),
                key=envelope_key(envelope),
                timestamp_ms=start_ms + n,
            )
        await producer.flush()
    finally:
        await producer.stop()


class Member:
    """One `lytewatch worker` of a group: its own web port and data directory, restartable."""

    def __init__(self, env: WorkerEnv, name: str, logs: Path) -> None:
        self.env = dataclasses.replace(env, web_port=free_port(), data_dir=logs / f"{name}-data")
        self.name = name
        self.logs = logs
        self.runs = 0
        self.process: Process | None = None

    def start(self) -> Process:
        self.runs += 1
        self.process = Process(["worker"], self.env.environ(), self.logs / f"{self.name}-{self.runs}.log")
        return self.process

    def ready(self, timeout: float = 180.0) -> None:
        assert self.process is not None
        wait_until_ready(self.process, self.env.url, timeout=timeout)

    def alive(self) -> str | None:
        return None if self.process is None else self.process.death()

    def close(self) -> None:
        if self.process is not None and self.process.popen.poll() is None:
            self.process.stop()


async def _assignments(env: WorkerEnv) -> dict[str, set[int]]:
    """Worker URL -> the labs partitions it owns now (faust puts each member's URL in its metadata)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=env.bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([env.prefix])
    finally:
        await admin.close()
    (group,) = response.groups
    state, members = group[2], group[5]
    if state != "Stable":
        return {}
    owned: dict[str, set[int]] = {}
    for member in members:
        metadata = ConsumerProtocolMemberMetadata.decode(member[3])
        url = json.loads(metadata.user_data)["url"].rstrip("/")
        assignment = ConsumerProtocolMemberAssignment.decode(member[4])
        owned[url] = {tp.partition for tp in assignment.partitions() if tp.topic == env.topics["labs"]}
    return owned


def assignments(env: WorkerEnv) -> dict[str, set[int]]:
    return asyncio.run(_assignments(env))


def wait_for_split(env: WorkerEnv, members: list[Member], within: float = 180.0) -> dict[str, set[int]]:
    """Until the group is stable with every member owning some partitions of the input topics."""
    urls = {m.env.url for m in members}

    def split() -> dict[str, set[int]]:
        owned = assignments(env)
        fine = set(owned) == urls and all(owned.values())
        return owned if fine else {}

    def dead() -> str | None:
        return next((d for m in members if (d := m.alive()) is not None), None)

    return eventually(split, "the group to split the partitions between its workers", within=within,
                      interval=1.0, alive=dead)  # fmt: skip


def start_group(members: list[Member]) -> dict[str, set[int]]:
    """Start every member; wait until each is ready and the group has split the partitions between them."""
    for member in members:
        member.start()
    for member in members:
        member.ready()
    return wait_for_split(members[0].env, members)


async def _alert_records(env: WorkerEnv) -> list[tuple[int, int, dict[str, Any]]]:
    topic = env.topics["alerts"]
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    reader = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, enable_auto_commit=False)
    await reader.start()
    out: list[tuple[int, int, dict[str, Any]]] = []
    try:
        ends = await reader.end_offsets(tps)
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        while not all([await reader.position(tp) >= ends[tp] for tp in tps]):
            batch = await reader.getmany(timeout_ms=500)
            out.extend(
                (r.partition, r.offset, json.loads(r.value)) for records in batch.values() for r in records
            )
    finally:
        await reader.stop()
    return out


def alert_records(env: WorkerEnv) -> list[tuple[int, int, dict[str, Any]]]:
    """(partition, offset, alert event) of every record on the alerts topic, read to its end."""
    return asyncio.run(_alert_records(env))


def alert_ends(env: WorkerEnv) -> dict[int, int]:
    async def go() -> dict[int, int]:
        probe = AIOKafkaConsumer(bootstrap_servers=env.bootstrap)
        await probe.start()
        try:
            tps = [TopicPartition(env.topics["alerts"], p) for p in range(PARTITIONS)]
            return {tp.partition: end for tp, end in (await probe.end_offsets(tps)).items()}
        finally:
            await probe.stop()

    return asyncio.run(go())


def without_emitted_at(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k != "emitted_at"}


def deduplicated(alerts: Iterable[dict[str, Any]]) -> tuple[dict[AlertKey, dict[str, Any]], list[str]]:
    """(alert_id, revision) -> content without `emitted_at`; re-deliveries that differ from the first."""
    seen: dict[AlertKey, dict[str, Any]] = {}
    conflicts: list[str] = []
    for alert in alerts:
        key = (alert["alert_id"], alert["revision"])
        content = without_emitted_at(alert)
        if key in seen and seen[key] != content:
            conflicts.append(f"{key}: {seen[key]} then {content}")
        seen.setdefault(key, content)
    return seen, conflicts


def first_alert_after(
    records: list[tuple[int, int, dict[str, Any]]], partitions: set[int], ends: dict[int, int]
) -> dict[str, Any] | None:
    """The earliest-emitted alert event written to one of `partitions` past the offsets in `ends`."""
    later = [a for p, offset, a in records if p in partitions and offset >= ends[p]]
    return min(later, key=lambda a: datetime.fromisoformat(a["emitted_at"]), default=None)
