"""On the real broker: a lab feed of mostly other tests (JSON, HL7 v2, FHIR) gives the replay's alerts, every
message is counted, and the group commits every partition to its end, also where it ends with ignored records
dropped as they were fetched (streams.worker.prefilter) and after a restart."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from streams.bench.feeds import other_test_record
from streams.feeds.simulate import FormatMix
from tests.integration.test_onehop import FEED, PATIENT, metric, readyz_engine_path, without_emitted_at
from tests.support.drain import replay_alerts, streamed_alerts, wait_caught_up
from tests.support.kafka import create_topics, produce
from tests.support.processes import WorkerEnv, running_worker

pytestmark = pytest.mark.integration


def other_tests(n: int, first: int = 0) -> list[tuple[bytes, bytes]]:
    """Results of tests lytewatch does not watch, keyed by their patient, some of them the alerting one's."""
    rng = random.Random(first)
    out = []
    for i in range(first, first + n):
        record = other_test_record(rng, i, 20, FormatMix())
        out.append((record.key, record.value))
    return out


COUNTERS = (
    "lytewatch_input_messages_total",
    "lytewatch_input_used_total",
    "lytewatch_ignored_total",
    "lytewatch_deadletter_total",
)


def labs_feed() -> list[tuple[bytes, bytes]]:
    key = PATIENT.encode()
    return [
        *other_tests(300),
        (key, orjson.dumps(FEED[1]["value"])),
        *other_tests(150, first=300),
        (key, orjson.dumps(FEED[2]["value"])),
        (key, b"{not a lab result"),
        *other_tests(150, first=450),
        (key, orjson.dumps(FEED[3]["value"])),
        # The feed ends with ignored records on every partition: their commit must come all the same.
        *other_tests(200, first=600),
    ]


def expected_counts(labs: list[tuple[bytes, bytes]]) -> dict[str, float]:
    """The order and the labs feed: 4 used (the order, K, Mg, K), 800 other tests ignored, 1 dead letter."""
    return {
        "lytewatch_input_messages_total": 1 + len(labs),
        "lytewatch_input_used_total": 4,
        "lytewatch_ignored_total": 800,
        "lytewatch_deadletter_total": 1,
    }


def test_a_feed_of_mostly_other_tests_gives_the_replay_s_alerts_and_commits_to_the_end(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    key = PATIENT.encode()
    orders = [(key, orjson.dumps(FEED[0]["value"]))]
    labs = labs_feed()
    with running_worker(env, tmp_path / "worker-1.log") as worker:
        asyncio.run(produce(env.bootstrap, env.topics["orders"], orders))
        asyncio.run(produce(env.bootstrap, env.topics["labs"], labs))
        wait_caught_up(env, worker, timeout=120)
        counted = {name: metric(env, name) for name in COUNTERS}
        first_log = worker.log()
    assert without_emitted_at(streamed_alerts(env)) == without_emitted_at(replay_alerts(FEED))
    assert counted == expected_counts(labs), first_log[-3000:]
    # What was dropped as fetched was not taken for offsets faust skipped (those would be read back).
    assert "faust skipped" not in first_log

    # A restarted worker starts where the first one committed: more ignored records, all committed.
    with running_worker(env, tmp_path / "worker-2.log") as again:
        asyncio.run(produce(env.bootstrap, env.topics["labs"], other_tests(300, first=800)))
        wait_caught_up(env, again, timeout=120)
        assert metric(env, "lytewatch_ignored_total") == 300
        second_log = again.log()
    assert "faust skipped" not in second_log
    assert without_emitted_at(streamed_alerts(env)) == without_emitted_at(replay_alerts(FEED))


def test_on_the_rekey_path_the_same_feed_gives_the_same_alerts_and_counts(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    # Labs not co-partitioned with the table: ingest agents re-key every used message through patient-events.
    asyncio.run(create_topics(env.bootstrap, [n for k, n in env.topics.items() if k != "labs"], partitions=2))
    asyncio.run(create_topics(env.bootstrap, [env.topics["labs"]], partitions=3))
    labs = labs_feed()
    with running_worker(env, tmp_path / "worker.log") as worker:
        assert readyz_engine_path(env)["one_hop"] is False
        # The order first: on this path the orders and labs agents run side by side.
        asyncio.run(
            produce(env.bootstrap, env.topics["orders"], [(PATIENT.encode(), orjson.dumps(FEED[0]["value"]))])
        )
        wait_caught_up(env, worker, timeout=60)
        asyncio.run(produce(env.bootstrap, env.topics["labs"], labs))
        wait_caught_up(env, worker, timeout=120)
        counted = {name: metric(env, name) for name in COUNTERS}
        log = worker.log()
    assert without_emitted_at(streamed_alerts(env)) == without_emitted_at(replay_alerts(FEED))
    assert counted == expected_counts(labs), log[-3000:]
    assert "faust skipped" not in log
