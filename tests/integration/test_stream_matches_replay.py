"""The worked examples through the real broker and worker give exactly the replay's alert events."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.codecs import DEFAULT_TOPIC_KINDS
from tests.support.drain import replay_alerts
from tests.support.kafka import consume
from tests.support.processes import WorkerEnv, running_worker
from tests.worked_examples import Envelope, follow_ups, worked_examples

pytestmark = pytest.mark.integration

def by_patient(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each patient's alert events in order, without the wall-clock `emitted_at`."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for alert in alerts:
        grouped[alert["patient_id"]].append({k: v for k, v in alert.items() if k != "emitted_at"})
    return dict(grouped)


async def feed_in_order(env: WorkerEnv, envelopes: list[Envelope]) -> None:
    """Produce one envelope at a time and wait until the worker has ingested it.

    Kafka orders messages within a partition, not across the four input topics; waiting for each event to
    reach patient-events gives the stream the file's order, which is what the replay promises to match.
    """
    producer = AIOKafkaProducer(bootstrap_servers=env.bootstrap, acks="all")
    watcher = AIOKafkaConsumer(
        env.topics["patient_events"], bootstrap_servers=env.bootstrap, auto_offset_reset="earliest"
    )
    await producer.start()
    await watcher.start()
    try:
        for envelope in envelopes:
            value = envelope["value"]
            raw = value.encode() if isinstance(value, str) else orjson.dumps(value)
            await producer.send_and_wait(env.topics[DEFAULT_TOPIC_KINDS[envelope["topic"]]], raw, key=b"feed")
            batch = await asyncio.wait_for(watcher.getone(), timeout=60)
            assert batch is not None
    finally:
        await producer.stop()
        await watcher.stop()


def test_worked_examples_through_kafka_equal_their_replay(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    base = worked_examples()
    first_ex1 = next(a for a in replay_alerts(base) if a["patient_id"] == "P-EX1")
    envelopes = base + follow_ups(first_ex1["alert_id"])
    expected = replay_alerts(envelopes)
    # The replay itself must show what CLINICAL_RULES.md promises before it can serve as the reference.
    kinds = [(a["patient_id"], a["rule"], a["event"], a["severity"]) for a in expected]
    assert ("P-EX1", "KMG_COMBINED", "acknowledged", "moderate") in kinds
    assert ("P-EX1", "KMG_COMBINED", "resolved", "moderate") in kinds
    assert ("P-EX2", "KMG_COMBINED", "escalated", "critical") in kinds
    assert not any(p in ("P-EX3", "P-EX5") for p, *_ in kinds)

    env = make_worker_env()
    with running_worker(env, tmp_path / "worker.log"):
        asyncio.run(feed_in_order(env, envelopes))
        records = asyncio.run(
            consume(env.bootstrap, env.topics["alerts"], expected=len(expected), timeout=60)
        )

    streamed = [orjson.loads(r.value) for r in records]
    assert all(r.key == s["patient_id"].encode() for r, s in zip(records, streamed, strict=True))
    assert by_patient(streamed) == by_patient(expected)
    assert len(streamed) == len(expected)
