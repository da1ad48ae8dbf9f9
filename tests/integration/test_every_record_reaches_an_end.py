"""On the real broker: a message too large to dead-letter whole is kept cut down, and a batch the broker
will not take stops the worker without committing it, so a restarted worker finishes it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.worker.failstop import EXIT_BATCH_UNFINISHED
from tests.support.kafka import consume, create_topics, produce
from tests.support.processes import Process, WorkerEnv, running_worker, wait_until_ready

pytestmark = pytest.mark.integration

LAB = {
    "result_id": "R-END-1",
    "patient_id": "MRN-END",
    "code": "2823-3",
    "value": 3.3,
    "unit": "mmol/L",
    "collected_at": "2026-03-01T10:00:00Z",
}


async def _set_topic_config(bootstrap: str, topic: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
    finally:
        await admin.close()


async def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return meta.offset if meta is not None else -1


def test_a_message_too_large_to_dead_letter_whole_is_dead_lettered_cut_with_a_marker(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env(LYTEWATCH_PARTITIONS="1")
    # 900 kB of garbage: its base64 dead letter (1.2 MB) is over the broker's 1 MB message limit.
    huge = b"\xff" + bytes(range(256)) * 3515
    with running_worker(env, tmp_path / "worker.log") as worker:
        asyncio.run(produce(env.bootstrap, env.topics["labs"], [(b"k1", huge), (b"k2", orjson.dumps(LAB))]))
        letters = asyncio.run(consume(env.bootstrap, env.topics["deadletter"], expected=1, timeout=90))
        forwarded = asyncio.run(consume(env.bootstrap, env.topics["patient_events"], expected=1, timeout=90))
        assert worker.popen.poll() is None, worker.log()[-3000:]

    assert len(letters) == 1, worker.log()[-3000:]
    letter = orjson.loads(letters[0].value)
    assert (letter["reason"], letter["offset"]) == ("not_json", 0)
    kept = base64.b64decode(letter["raw"])
    assert 0 < len(kept) < len(huge) and huge.startswith(kept)
    assert letter["truncated"] == {
        "original_bytes": len(huge),
        "kept_bytes": len(kept),
        "sha256": hashlib.sha256(huge).hexdigest(),
    }
    assert f"raw truncated: first {len(kept)} of {len(huge)} bytes kept" in letter["detail"]
    # The message after it was not lost with it.
    assert [r.key for r in forwarded] == [b"MRN-END"]


def test_a_batch_the_broker_refuses_stops_the_worker_uncommitted_and_a_restart_finishes_it(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env(LYTEWATCH_PARTITIONS="1")
    deadletter = env.topics["deadletter"]
    asyncio.run(create_topics(env.bootstrap, env.topics.values(), partitions=1))
    # A dead-letter topic that refuses every record, even one without its raw bytes.
    asyncio.run(_set_topic_config(env.bootstrap, deadletter, {"max.message.bytes": "64"}))
    worker = Process(["worker"], env.environ(), tmp_path / "worker-1.log")
    try:
        wait_until_ready(worker, env.url)
        asyncio.run(produce(env.bootstrap, env.topics["labs"], [(b"k1", b"not a lab result")]))
        worker.popen.wait(timeout=90)
    finally:
        code = worker.stop()

    assert code == EXIT_BATCH_UNFINISHED, worker.log()[-3000:]
    assert "could not finish a batch starting at" in worker.log()
    assert "without committing it" in worker.log()
    labs = TopicPartition(env.topics["labs"], 0)
    assert asyncio.run(_committed(env.bootstrap, env.prefix, labs)) <= 0

    asyncio.run(_set_topic_config(env.bootstrap, deadletter, {"max.message.bytes": "1048588"}))
    started = time.monotonic()
    with running_worker(env, tmp_path / "worker-2.log") as again:
        letters = asyncio.run(consume(env.bootstrap, deadletter, expected=1, timeout=90))
        assert again.popen.poll() is None, again.log()[-3000:]
    assert [orjson.loads(r.value)["offset"] for r in letters] == [0], f"after {time.monotonic() - started} s"
