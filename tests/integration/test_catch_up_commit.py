"""On the real broker: a worker commits a backlog as soon as it has applied it, not at faust's next commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.integration.test_onehop import FEED, PATIENT, without_emitted_at
from tests.integration.test_prefilter import labs_feed
from tests.support.drain import replay_alerts, streamed_alerts, wait_caught_up
from tests.support.kafka import create_topics, produce
from tests.support.processes import WorkerEnv, running_worker

pytestmark = pytest.mark.integration


def test_a_drained_backlog_is_committed_to_its_end_long_before_the_commit_interval(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    # faust's own commits come every 10 minutes here: only the engine's catch-up commit can reach the ends
    # within the wait below.
    env = make_worker_env(LYTEWATCH_COMMIT_INTERVAL_S="600")
    key = PATIENT.encode()
    asyncio.run(create_topics(env.bootstrap, list(env.topics.values()), partitions=2))
    asyncio.run(produce(env.bootstrap, env.topics["orders"], [(key, orjson.dumps(FEED[0]["value"]))]))
    # Ends with ignored records on every partition (dropped as fetched): the commit covers them too.
    asyncio.run(produce(env.bootstrap, env.topics["labs"], labs_feed()))
    with running_worker(env, tmp_path / "worker.log") as worker:
        wait_caught_up(env, worker, timeout=90)
        # A second backlog, while the worker runs: committed as well, again without faust's tick.
        asyncio.run(produce(env.bootstrap, env.topics["labs"], labs_feed()[-200:]))
        wait_caught_up(env, worker, timeout=90)
    assert without_emitted_at(streamed_alerts(env)) == without_emitted_at(replay_alerts(FEED))
