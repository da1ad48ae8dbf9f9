"""SIGKILL a worker in the middle of 20,000+ events: after a restart from the changelog, no alert is lost
and none invented — the (alert_id, revision) set equals an uninterrupted run's."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafka import consume, create_topics
from tests.support.processes import Process, WorkerEnv, running_worker, wait_until_ready
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATIENTS = 1500
LABS_PER_PATIENT = 14  # 21,000 lab messages, after 1,500+ order events
START = datetime(2026, 4, 1, tzinfo=UTC)


def workload(seed: int = 7) -> tuple[list[tuple[bytes, dict[str, Any]]], list[tuple[bytes, dict[str, Any]]]]:
    """(orders, labs): every patient on a diuretic (a few on spironolactone only, some on KCl), then labs with
    low K and Mg, corrections, cancellations and exact duplicates — every lifecycle transition occurs."""
    rng = random.Random(seed)
    orders: list[tuple[bytes, dict[str, Any]]] = []
    labs: list[tuple[bytes, dict[str, Any]]] = []
    drugs = ["Furosemide 40 mg IV", "Bumetanide 1 mg", "Hydrochlorothiazide 25 mg", "Spironolactone 25 mg"]
    for p in range(PATIENTS):
        pid = f"CRASH-{p:05d}"
        key = pid.encode()

        def order(oid: str, display: str, at: datetime, pid: str = pid) -> dict[str, Any]:
            return {
                "order_id": oid,
                "patient_id": pid,
                "medication": {"display": display},
                "status": "active",
                "start": at.isoformat(),
                "recorded_at": at.isoformat(),
            }

        orders.append((key, order(f"{pid}-D", rng.choice(drugs), START)))
        if rng.random() < 0.3:
            orders.append((key, order(f"{pid}-KCL", "Potassium Chloride 20 mEq", START + timedelta(hours=2))))
        at = START + timedelta(hours=1)
        for n in range(LABS_PER_PATIENT):
            at += timedelta(hours=rng.choice([2, 4, 6, 12]))
            analyte = "K" if rng.random() < 0.6 else "Mg"
            value = round(rng.gauss(3.4, 0.45), 1) if analyte == "K" else round(rng.gauss(0.68, 0.14), 2)
            value = min(max(value, 1.5 if analyte == "K" else 0.2), 6.0)
            result = {
                "result_id": f"{pid}-R{n}",
                "patient_id": pid,
                "code": "2823-3" if analyte == "K" else "2601-3",
                "value": value,
                "unit": "mmol/L",
                "collected_at": at.isoformat(),
            }
            labs.append((key, result))
            roll = rng.random()
            if roll < 0.05:
                labs.append((key, {**result, "value": round(value + 0.4, 2), "status": "corrected"}))
            elif roll < 0.08:
                labs.append((key, {**result, "status": "cancelled"}))
            elif roll < 0.12:
                labs.append((key, dict(result)))
    return orders, labs


async def produce_all(env: WorkerEnv, topic: str, messages: list[tuple[bytes, dict[str, Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(topic, orjson.dumps(value), key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def caught_up(env: WorkerEnv, kinds: tuple[str, ...] = ("orders", "labs", "patient_events")) -> bool:
    """True once the worker's group has committed every input and patient-events offset to the end
    (an empty partition, e.g. patient-events when every input is keyed by its patient, counts as done)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=env.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(env.prefix)
        topics = [env.topics[kind] for kind in kinds]
        from aiokafka import AIOKafkaConsumer

        probe = AIOKafkaConsumer(bootstrap_servers=env.bootstrap)
        await probe.start()
        try:
            tps = [TopicPartition(t, p) for t in topics for p in range(2)]
            ends = await probe.end_offsets(tps)
        finally:
            await probe.stop()
        return all(ends[tp] == 0 or (tp in committed and committed[tp].offset >= ends[tp]) for tp in tps)
    finally:
        await admin.close()


def wait_caught_up(env: WorkerEnv, worker: Process, timeout: float = 300.0) -> None:
    eventually(
        lambda: asyncio.run(caught_up(env)),
        "the worker to commit every input",
        within=timeout,
        interval=1.0,
        alive=worker.death,
    )


def count_records(env: WorkerEnv, topic: str) -> int:
    async def go() -> int:
        from aiokafka import AIOKafkaConsumer

        probe = AIOKafkaConsumer(bootstrap_servers=env.bootstrap)
        await probe.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(2)]
            ends = await probe.end_offsets(tps)
            return sum(ends.values())
        finally:
            await probe.stop()

    return asyncio.run(go())


def run_orders_then_labs(env: WorkerEnv, worker: Process, orders: list[Any], labs: list[Any]) -> None:
    asyncio.run(produce_all(env, env.topics["orders"], orders))
    eventually(
        lambda: asyncio.run(caught_up(env, ("orders", "patient_events"))),
        "the orders to be applied",
        within=120,
        interval=0.5,
        alive=worker.death,
    )
    asyncio.run(produce_all(env, env.topics["labs"], labs))


def alert_records(env: WorkerEnv) -> list[dict[str, Any]]:
    total = count_records(env, env.topics["alerts"])
    records = asyncio.run(consume(env.bootstrap, env.topics["alerts"], expected=total, timeout=120))
    assert len(records) == total
    return [orjson.loads(r.value) for r in records]


def test_sigkill_mid_stream_loses_and_invents_no_alert(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    orders, labs = workload()
    assert len(labs) >= 20_000

    # The reference: one uninterrupted run.
    reference_env = make_worker_env()
    with running_worker(reference_env, tmp_path / "reference.log") as worker:
        run_orders_then_labs(reference_env, worker, orders, labs)
        wait_caught_up(reference_env, worker)
    reference = alert_records(reference_env)
    reference_ids = {(a["alert_id"], a["revision"]) for a in reference}
    assert len(reference_ids) == len(reference), "an uninterrupted run has no duplicates"
    assert len(reference) > 1000
    assert {a["event"] for a in reference} >= {"fired", "escalated", "updated", "resolved"}

    # The same input, with the worker killed in the middle of the lab stream.
    env = make_worker_env()
    asyncio.run(create_topics(env.bootstrap, env.topics.values(), partitions=2))
    first = Process(["worker"], env.environ(), tmp_path / "crashed.log")
    wait_until_ready(first, env.url)
    run_orders_then_labs(env, first, orders, labs)
    eventually(
        lambda: count_records(env, env.topics["alerts"]) >= len(reference) // 3,
        "a third of the alerts before the kill",
        within=120,
        interval=0.05,
        alive=first.death,
    )
    first.kill()
    alerts_at_kill = count_records(env, env.topics["alerts"])
    assert alerts_at_kill < len(reference), "the kill came too late to interrupt anything"

    # A new data directory: the restarted worker has nothing on disk, so its state comes from the changelog.
    env.data_dir = tmp_path / "fresh-data-dir"
    second = Process(["worker"], env.environ(), tmp_path / "restarted.log")
    try:
        wait_until_ready(second, env.url, timeout=180)
        wait_caught_up(env, second)
    finally:
        second.stop()
    recovered = re.search(r"recovered table patients: (\d+) entries", second.log())
    assert recovered is not None, second.log()[-3000:]
    print(f"killed after {alerts_at_kill} of {len(reference)} alert events; {recovered.group(0)}")
    assert int(recovered.group(1)) > 0

    crashed = alert_records(env)
    assert {(a["alert_id"], a["revision"]) for a in crashed} == reference_ids
    first_seen: dict[tuple[str, int], dict[str, Any]] = {}
    for alert in crashed:
        key = (alert["alert_id"], alert["revision"])
        content = {k: v for k, v in alert.items() if k != "emitted_at"}
        if key in first_seen:
            assert content == first_seen[key], f"re-delivery of {key} differs from the original"
        else:
            first_seen[key] = content
    reference_content = {
        (a["alert_id"], a["revision"]): {k: v for k, v in a.items() if k != "emitted_at"} for a in reference
    }
    assert first_seen == reference_content
