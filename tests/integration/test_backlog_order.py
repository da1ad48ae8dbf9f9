"""A worker started on a backlog applies each partition's inputs in record-timestamp order across topics,
so its alert transitions equal `lytewatch replay` of the same feed, per patient."""

from __future__ import annotations

import asyncio
import io
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from alerts.codes import load_code_mapping
from alerts.rulesfile import load_rules
from streams.feeds.produce import encode_value, envelope_key
from streams.feeds.simulate import FaultMix, simulate
from streams.replay import replay
from tests.kafka_helpers import create_topics
from tests.processes import Process, WorkerEnv, running_worker

pytestmark = pytest.mark.integration

Envelope = dict[str, Any]
Transition = tuple[str, str, int, str, str, str | None]
INPUTS = {"labs.results": "labs", "meds.orders": "orders", "adt.events": "adt", "alerts.acks": "acks"}


def replay_transitions(envelopes: list[Envelope]) -> list[dict[str, Any]]:
    out = io.BytesIO()
    replay(
        [orjson.dumps(e) for e in envelopes],
        rules=load_rules(None),
        mapping=load_code_mapping(None),
        tz=ZoneInfo("UTC"),
        alerts_out=out,
    )
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def per_patient(alerts: list[dict[str, Any]]) -> dict[str, list[Transition]]:
    grouped: dict[str, list[Transition]] = defaultdict(list)
    for a in alerts:
        grouped[a["patient_id"]].append(
            (a["patient_id"], a["rule"], a["revision"], a["event"], a["severity"], a["reason"])
        )
    return dict(grouped)


async def produce_backlog(env: WorkerEnv, envelopes: list[Envelope], keyed: bool = True) -> None:
    """Every envelope in file order, with strictly increasing record timestamps (EVENTS.md: CreateTime)."""
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, acks="all", linger_ms=20)
    await producer.start()
    start_ms = int(time.time() * 1000) - len(envelopes) - 60_000
    try:
        for n, envelope in enumerate(envelopes):
            await producer.send(
                env.topics[INPUTS[envelope["topic"]]],
                encode_value(envelope["value"]),
                key=envelope_key(envelope) if keyed else None,
                timestamp_ms=start_ms + n,
            )
        await producer.flush()
    finally:
        await producer.stop()


async def _ends(bootstrap: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await probe.start()
    try:
        return dict(await probe.end_offsets(tps))
    finally:
        await probe.stop()


async def _caught_up(env: WorkerEnv) -> bool:
    names = [env.topics[kind] for kind in (*INPUTS.values(), "patient_events")]
    tps = [TopicPartition(t, p) for t in names for p in range(2)]
    admin = AIOKafkaAdminClient(bootstrap_servers=env.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(env.prefix)
    finally:
        await admin.close()
    ends = await _ends(env.bootstrap, tps)
    return all(ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp]) for tp in tps)


def wait_caught_up(env: WorkerEnv, worker: Process, timeout: float = 300.0) -> None:
    """Until the group has committed every input and internal partition to its end, twice in a row."""
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 2:
        assert time.monotonic() < deadline, f"worker did not catch up in {timeout}s:\n{worker.log()[-3000:]}"
        assert worker.popen.poll() is None, worker.log()[-3000:]
        streak = streak + 1 if asyncio.run(_caught_up(env)) else 0
        time.sleep(1.0)


def streamed_alerts(env: WorkerEnv) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        tps = [TopicPartition(env.topics["alerts"], p) for p in range(2)]
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


def describe(transitions: dict[str, list[Transition]]) -> str:
    episodes = {(p, t[1]) for p, ts in transitions.items() for t in ts if t[3] == "fired"}
    return f"{sum(map(len, transitions.values()))} transitions, {len(episodes)} episodes"


def test_a_backlog_drained_by_a_new_worker_equals_its_replay(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    envelopes = list(simulate(200, 42, 20_000, None, 1000.0, FaultMix()))
    expected = per_patient(replay_transitions(envelopes))
    assert sum(map(len, expected.values())) > 30, "the feed must exercise the rules to prove anything"

    env = make_worker_env()
    asyncio.run(create_topics(env.bootstrap, env.topics.values(), partitions=2))
    asyncio.run(produce_backlog(env, envelopes))
    with running_worker(env, tmp_path / "worker.log") as worker:
        wait_caught_up(env, worker)
    streamed = per_patient(streamed_alerts(env))

    print(f"replay: {describe(expected)}; stream: {describe(streamed)}")
    differing = sorted(p for p in expected.keys() | streamed.keys() if expected.get(p) != streamed.get(p))
    assert not differing, (
        f"{len(differing)} patients differ from replay (replay {describe(expected)}, stream "
        f"{describe(streamed)}), e.g. {differing[0]}: replay {expected.get(differing[0])} "
        f"stream {streamed.get(differing[0])}"
    )
