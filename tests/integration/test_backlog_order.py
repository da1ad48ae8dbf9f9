"""A worker started on a backlog applies each partition's inputs in record-timestamp order across topics,
so its alert transitions equal `lytewatch replay` of the same feed, per patient."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from streams.feeds.produce import encode_value, envelope_key
from streams.feeds.simulate import FaultMix, simulate
from tests.support.drain import INPUTS, replay_alerts, streamed_alerts, wait_caught_up
from tests.support.kafka import create_topics
from tests.support.processes import WorkerEnv, running_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

Envelope = dict[str, Any]
Transition = tuple[str, str, int, str, str, str | None]


def per_patient(alerts: list[dict[str, Any]]) -> dict[str, list[Transition]]:
    """Each patient's transitions in order; a re-delivery (same alert id and revision) counts once, as
    consumers de-duplicate (README, crash safety)."""
    grouped: dict[str, list[Transition]] = defaultdict(list)
    seen: set[tuple[str, int]] = set()
    for a in alerts:
        if (a["alert_id"], a["revision"]) in seen:
            continue
        seen.add((a["alert_id"], a["revision"]))
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


def describe(transitions: dict[str, list[Transition]]) -> str:
    episodes = {(p, t[1]) for p, ts in transitions.items() for t in ts if t[3] == "fired"}
    return f"{sum(map(len, transitions.values()))} transitions, {len(episodes)} episodes"


def backlog(events: int = 20_000) -> tuple[list[Envelope], dict[str, list[Transition]]]:
    """The synthetic hospital's events (200 beds, default faults) and their replay per patient."""
    envelopes = list(simulate(200, 42, events, None, 1000.0, FaultMix()))
    expected = per_patient(replay_alerts(envelopes))
    assert sum(map(len, expected.values())) > 30, "the feed must exercise the rules to prove anything"
    return envelopes, expected


def assert_equal_per_patient(
    expected: dict[str, list[Transition]], streamed: dict[str, list[Transition]]
) -> None:
    print(f"replay: {describe(expected)}; stream: {describe(streamed)}")
    differing = sorted(p for p in expected.keys() | streamed.keys() if expected.get(p) != streamed.get(p))
    assert not differing, (
        f"{len(differing)} patients differ from replay (replay {describe(expected)}, stream "
        f"{describe(streamed)}), e.g. {differing[0]}: replay {expected.get(differing[0])} "
        f"stream {streamed.get(differing[0])}"
    )


def test_a_backlog_drained_by_a_new_worker_equals_its_replay(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    envelopes, expected = backlog()
    env = make_worker_env()
    asyncio.run(create_topics(env.bootstrap, env.topics.values(), partitions=2))
    asyncio.run(produce_backlog(env, envelopes))
    with running_worker(env, tmp_path / "worker.log") as worker:
        wait_caught_up(env, worker)
    assert_equal_per_patient(expected, per_patient(streamed_alerts(env)))


@pytest.mark.slow
def test_a_backlog_drain_stopped_and_killed_midway_still_equals_its_replay(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    """Records buffered but not applied are not committed: a SIGTERM (which must not hang on them) and a
    SIGKILL in the middle of the drain lose nothing and disturb no order."""
    # Three times the other tests' backlog: a drain of 20,000 events takes a few seconds, too few to stop it
    # twice in its middle on a fast machine.
    envelopes, expected = backlog(60_000)
    total = sum(map(len, expected.values()))
    env = make_worker_env()
    asyncio.run(create_topics(env.bootstrap, env.topics.values(), partitions=2))
    asyncio.run(produce_backlog(env, envelopes))

    def alerts_so_far() -> int:
        return sum(map(len, per_patient(streamed_alerts(env)).values()))

    for n, (stop, share) in enumerate((("SIGTERM", 1 / 3), ("SIGKILL", 2 / 3))):
        with running_worker(env, tmp_path / f"worker-{n}.log") as worker:

            def drained_to_share(floor: float = share * total) -> bool:
                return alerts_so_far() >= floor

            eventually(drained_to_share, f"{share:.0%} of the drain", within=120, alive=worker.death)
            if stop == "SIGTERM":
                assert worker.stop() == 0, f"SIGTERM did not stop the worker cleanly:\n{worker.log()[-3000:]}"
            else:
                worker.kill()
        assert alerts_so_far() < total, f"the drain finished before the {stop}: it was not stopped midway"
    with running_worker(env, tmp_path / "worker-last.log") as worker:
        wait_caught_up(env, worker)
    assert_equal_per_patient(expected, per_patient(streamed_alerts(env)))
