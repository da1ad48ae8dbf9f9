"""On the real broker: a worker whose local state is ahead of a recreated changelog topic moves the stale
store aside, rebuilds from the changelog and runs, instead of crash-looping on faust's ConsistencyError."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.kafka import consume, produce
from tests.support.messages import lab_json
from tests.support.processes import WorkerEnv, running_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _recreate(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
        # Deletion is asynchronous on the broker: create again once the name is free.
        for _ in range(120):
            if topic not in await admin.list_topics():
                break
            await asyncio.sleep(0.5)
        await admin.create_topics(
            [NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})]
        )
    finally:
        await admin.close()


def test_a_store_ahead_of_its_recreated_changelog_is_moved_aside_and_rebuilt(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env(LYTEWATCH_PARTITIONS="1")
    changelog = f"{env.prefix}-patients-changelog"
    labs = [
        (f"P{n}".encode(), orjson.dumps(lab_json(patient_id=f"P{n}", result_id=f"R{n}"))) for n in range(5)
    ]
    with running_worker(env, tmp_path / "worker-1.log") as worker:
        asyncio.run(produce(env.bootstrap, env.topics["labs"], labs))
        # The patients' state reached the changelog: the local store has applied offsets in it.
        written = asyncio.run(consume(env.bootstrap, changelog, expected=5, timeout=90))
        assert len(written) >= 5, worker.log()[-3000:]

    asyncio.run(_recreate(env.bootstrap, changelog, partitions=1))

    with running_worker(env, tmp_path / "worker-2.log") as again:
        log = again.log()
        asyncio.run(
            produce(env.bootstrap, env.topics["labs"], [(b"P9", orjson.dumps(lab_json(patient_id="P9")))])
        )
        eventually(
            lambda: asyncio.run(consume(env.bootstrap, changelog, expected=1, timeout=5)),
            "the rebuilt store to write the changelog again",
            within=90,
        )
        assert again.popen.poll() is None

    assert "is ahead of its changelog" in log and "moved to" in log, log[-3000:]
    assert "ConsistencyError" not in log
    assert [p.name for p in env.data_dir.rglob("*.stale-*")], "the stale store is kept for inspection"
