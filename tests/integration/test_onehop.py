"""One hop: input keyed by its patient is applied on the partition it arrived on, with no trip through
patient-events; unkeyed and wrongly keyed input, and a worker whose topics are not co-partitioned, take the
re-key path. Each gives the replay's alerts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.drain import INPUTS, replay_alerts, streamed_alerts, wait_caught_up
from tests.support.kafka import create_topics, produce
from tests.support.processes import Process, WorkerEnv, http_get, running_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PATIENT = "MRN-HOP-1"
FEED: list[dict[str, Any]] = [
    {
        "topic": "meds.orders",
        "value": {
            "order_id": "O-1",
            "patient_id": PATIENT,
            "medication": {"display": "Furosemide 40 mg IV"},
            "status": "active",
            "start": "2026-05-01T06:00:00Z",
            "recorded_at": "2026-05-01T06:00:00Z",
        },
    },
    {
        "topic": "labs.results",
        "value": {
            "result_id": "K-1",
            "patient_id": PATIENT,
            "code": "2823-3",
            "value": 2.9,
            "unit": "mmol/L",
            "collected_at": "2026-05-01T08:00:00Z",
        },
    },
    {
        "topic": "labs.results",
        "value": {
            "result_id": "MG-1",
            "patient_id": PATIENT,
            "code": "2601-3",
            "value": 0.55,
            "unit": "mmol/L",
            "collected_at": "2026-05-01T08:00:00Z",
        },
    },
    {
        "topic": "labs.results",
        "value": {
            "result_id": "K-2",
            "patient_id": PATIENT,
            "code": "2823-3",
            "value": 4.0,
            "unit": "mmol/L",
            "collected_at": "2026-05-01T14:00:00Z",
        },
    },
]


def without_emitted_at(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k != "emitted_at"} for a in alerts]


def feed_one_by_one(env: WorkerEnv, worker: Process, keys: list[bytes | None]) -> None:
    """Each message once the previous one is applied: the stream then sees the feed's order on any path."""
    for envelope, key in zip(FEED, keys, strict=True):
        topic = env.topics[INPUTS[envelope["topic"]]]
        asyncio.run(produce(env.bootstrap, topic, [(key, orjson.dumps(envelope["value"]))]))
        wait_caught_up(env, worker, timeout=60, times=1)


def metric(env: WorkerEnv, name: str) -> float:
    _, body = http_get(f"{env.url}/metrics")
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", body.decode(), re.MULTILINE))


def readyz_engine_path(env: WorkerEnv) -> dict[str, Any]:
    _, body = http_get(f"{env.url}/readyz")
    path: dict[str, Any] = orjson.loads(body)["checks"]["engine_path"]
    return path


def test_input_keyed_by_its_patient_is_applied_without_the_patient_events_hop(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    expected = replay_alerts(FEED)
    assert {(a["rule"], a["event"]) for a in expected} >= {
        ("KMG_COMBINED", "fired"),
        ("KMG_COMBINED", "resolved"),
    }
    env = make_worker_env()
    with running_worker(env, tmp_path / "worker.log") as worker:
        path = readyz_engine_path(env)
        assert path["one_hop"] is True, path
        asyncio.run(
            produce(
                env.bootstrap,
                env.topics["orders"],
                [(PATIENT.encode(), orjson.dumps(FEED[0]["value"]))],
            )
        )
        asyncio.run(
            produce(
                env.bootstrap,
                env.topics["labs"],
                [(PATIENT.encode(), orjson.dumps(e["value"])) for e in FEED[1:]],
            )
        )
        wait_caught_up(env, worker)
        rekeyed = metric(env, "lytewatch_rekeyed_events_total")
        enforced = metric(env, "lytewatch_order_enforced_total")
        internal = asyncio.run(_end_offsets_sum(env, "patient_events"))
    assert without_emitted_at(streamed_alerts(env)) == without_emitted_at(expected)
    assert internal == 0, "keyed input must not cross the patient-events topic"
    assert rekeyed == 0
    # The empty adt and acks partitions are known to be caught up: nothing waited for them in vain.
    assert enforced == 0


def test_unkeyed_and_wrongly_keyed_input_takes_the_rekey_hop_and_gives_the_same_alerts(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    with running_worker(env, tmp_path / "worker.log") as worker:
        # The order unkeyed, one lab keyed by a lab accession number, the others by the patient: one
        # patient's events arrive on both paths.
        feed_one_by_one(env, worker, [None, b"ACC-778812", PATIENT.encode(), None])
        rekeyed = metric(env, "lytewatch_rekeyed_events_total")
        internal = asyncio.run(_end_offsets_sum(env, "patient_events"))
    assert without_emitted_at(streamed_alerts(env)) == without_emitted_at(replay_alerts(FEED))
    assert rekeyed == 3
    assert internal == 3


def test_a_worker_whose_inputs_are_not_copartitioned_says_so_and_rekeys_everything(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    topics = [name for key, name in env.topics.items() if key != "labs"]
    asyncio.run(create_topics(env.bootstrap, topics, partitions=2))
    asyncio.run(create_topics(env.bootstrap, [env.topics["labs"]], partitions=3))
    with running_worker(env, tmp_path / "worker.log") as worker:
        path = readyz_engine_path(env)
        assert path["one_hop"] is False
        assert f"{env.topics['labs']} has 3" in path["detail"]
        assert re.search(r"WARNING.*engine path: re-key path", worker.log()), worker.log()[-3000:]
        feed_one_by_one(env, worker, [PATIENT.encode()] * len(FEED))
        internal = asyncio.run(_end_offsets_sum(env, "patient_events"))
    assert without_emitted_at(streamed_alerts(env)) == without_emitted_at(replay_alerts(FEED))
    assert internal == len(FEED)


async def _end_offsets_sum(env: WorkerEnv, kind: str) -> int:
    """How many records a topic of the test's environment (2 partitions, as LYTEWATCH_PARTITIONS) holds."""
    probe = AIOKafkaConsumer(bootstrap_servers=env.bootstrap)
    await probe.start()
    try:
        ends = await probe.end_offsets([TopicPartition(env.topics[kind], p) for p in range(2)])
        return int(sum(ends.values()))
    finally:
        await probe.stop()


def test_an_order_from_a_transactional_producer_does_not_hold_the_labs_back_for_good(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    """A committed transaction leaves a control record after the order that no consumer receives, so the
    orders partition stays one offset short of its high-water; the labs after it must still be applied."""
    env = make_worker_env(LYTEWATCH_MAX_TASK_IDLE_MS="1000")
    with running_worker(env, tmp_path / "worker.log") as worker:
        asyncio.run(_produce_in_a_transaction(env, env.topics["orders"], FEED[0]["value"]))
        asyncio.run(
            produce(
                env.bootstrap,
                env.topics["labs"],
                [(PATIENT.encode(), orjson.dumps(e["value"])) for e in FEED[1:]],
            )
        )
        expected = without_emitted_at(replay_alerts(FEED))
        # Not wait_caught_up: the group's committed offset on the orders partition stays one short of its end.
        eventually(
            lambda: without_emitted_at(streamed_alerts(env)) == expected,
            "the labs after a transactional order to give the replay's alerts",
            within=60,
            interval=2.0,
            alive=worker.death,
        )


async def _produce_in_a_transaction(env: WorkerEnv, topic: str, value: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, transactional_id=f"{env.prefix}-tx")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, value=orjson.dumps(value), key=PATIENT.encode())
    finally:
        await producer.stop()
