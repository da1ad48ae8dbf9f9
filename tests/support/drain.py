"""Helpers for tests that drain input through a real worker: caught-up checks and reading every alert."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from alerts.codes import load_code_mapping
from alerts.rulesfile import load_rules
from streams.replay import replay
from streams.topic_registry import DEFAULT_TOPIC_KINDS
from tests.support.processes import Process, WorkerEnv
from tests.support.waiting import eventually

# Replay-file topic name -> the WorkerEnv topic key (the input kind), from the topic registry.
INPUTS = DEFAULT_TOPIC_KINDS


def replay_alerts(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`lytewatch replay` of these replay-file envelopes with the default rules: the reference."""
    out = io.BytesIO()
    replay(
        [orjson.dumps(e) for e in envelopes],
        rules=load_rules(None),
        mapping=load_code_mapping(None),
        tz=ZoneInfo("UTC"),
        alerts_out=out,
    )
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


async def _ends(bootstrap: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        return dict(await probe.end_offsets(tps))
    finally:
        await probe.stop()


async def _partitions(admin: AIOKafkaAdminClient, names: list[str]) -> list[TopicPartition]:
    described = await admin.describe_topics(names)
    return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]


async def _caught_up(env: WorkerEnv) -> bool:
    names = [env.topics[kind] for kind in (*INPUTS.values(), "patient_events")]
    admin = AIOKafkaAdminClient(bootstrap_servers=env.bootstrap)
    await admin.start()
    try:
        tps = await _partitions(admin, names)
        committed = await admin.list_consumer_group_offsets(env.prefix)
    finally:
        await admin.close()
    ends = await _ends(env.bootstrap, tps)
    return all(ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp]) for tp in tps)


def wait_caught_up(env: WorkerEnv, worker: Process, timeout: float = 300.0, times: int = 2) -> None:
    """Until the group has committed every input and internal partition to its end, `times` in a row."""
    streak = 0

    def steady() -> bool:
        nonlocal streak
        streak = streak + 1 if asyncio.run(_caught_up(env)) else 0
        return streak >= times

    eventually(steady, "the worker to commit every input", within=timeout, interval=1.0, alive=worker.death)


def streamed_alerts(env: WorkerEnv) -> list[dict[str, Any]]:
    """Every alert event on the alerts topic, read to its end."""

    async def go() -> list[dict[str, Any]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=env.bootstrap)
        await admin.start()
        try:
            tps = await _partitions(admin, [env.topics["alerts"]])
        finally:
            await admin.close()
        ends = await _ends(env.bootstrap, tps)
        reader = AIOKafkaConsumer(bootstrap_servers=env.bootstrap, enable_auto_commit=False)
        await reader.start()
        out: list[dict[str, Any]] = []
        try:
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            while not all([await reader.position(tp) >= ends[tp] for tp in tps]):
                batch = await reader.getmany(timeout_ms=500)
                out.extend(orjson.loads(r.value) for records in batch.values() for r in records)
        finally:
            await reader.stop()
        return out

    return asyncio.run(go())
