"""Two workers in one group: SIGKILL one mid-stream, or restart both in turn with SIGTERM; the survivor takes
its partitions over from the changelog, and the alert transitions equal `lytewatch replay` of the input."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_crash_recovery import workload
from tests.support.drain import replay_alerts, wait_caught_up
from tests.support.failover import (
    PARTITIONS,
    AlertKey,
    Envelope,
    Member,
    alert_ends,
    alert_records,
    assignments,
    backlog_start_ms,
    deduplicated,
    first_alert_after,
    produce_in_order,
    replay_envelopes,
    start_group,
    wait_for_split,
    without_emitted_at,
)
from tests.support.kafka import create_topics
from tests.support.processes import WorkerEnv
from tests.support.waiting import eventually

# Its own waits allow 600 s for the drain on a loaded machine; the default 300 s cut one short under load.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def feed() -> tuple[list[Envelope], dict[AlertKey, dict[str, Any]]]:
    """The crash test's 25,485 events as a replay file, and replay's alert events (the reference)."""
    envelopes = replay_envelopes(*workload())
    reference = replay_alerts(envelopes)
    expected = {(a["alert_id"], a["revision"]): without_emitted_at(a) for a in reference}
    assert len(expected) == len(reference), "a replay has no duplicates"
    assert {a["event"] for a in reference} >= {"fired", "escalated", "updated", "resolved"}
    return envelopes, expected


def group_env(make_worker_env: Callable[..., WorkerEnv]) -> WorkerEnv:
    env = make_worker_env(LYTEWATCH_PARTITIONS=str(PARTITIONS))
    asyncio.run(create_topics(env.bootstrap, env.topics.values(), partitions=PARTITIONS))
    return env


def wait_for_alerts(env: WorkerEnv, at_least: int, members: list[Member]) -> None:
    def dead() -> str | None:
        return next((d for m in members if (d := m.alive()) is not None), None)

    eventually(
        lambda: sum(alert_ends(env).values()) >= at_least,
        f"{at_least} alert events",
        within=300,
        interval=0.05,
        alive=dead,
    )


def assert_equals_replay(env: WorkerEnv, expected: dict[AlertKey, dict[str, Any]]) -> list[Any]:
    records = alert_records(env)
    streamed, conflicts = deduplicated(alert for _, _, alert in records)
    assert not conflicts, f"{len(conflicts)} re-deliveries differ from their first copy, e.g. {conflicts[0]}"
    missing, invented = expected.keys() - streamed.keys(), streamed.keys() - expected.keys()
    assert not missing and not invented, (
        f"{len(missing)} alert events lost (e.g. {sorted(missing)[:3]}), {len(invented)} invented "
        f"(e.g. {sorted(invented)[:3]}) of {len(expected)}"
    )
    differing = [key for key in expected if expected[key] != streamed[key]]
    assert not differing, (
        f"{len(differing)} differ, e.g. {expected[differing[0]]} vs {streamed[differing[0]]}"
    )
    return records


def test_sigkill_one_of_two_workers_moves_its_partitions_and_loses_nothing(
    make_worker_env: Callable[..., WorkerEnv],
    tmp_path: Path,
    feed: tuple[list[Envelope], dict[AlertKey, dict[str, Any]]],
) -> None:
    envelopes, expected = feed
    assert len(envelopes) >= 20_000
    env = group_env(make_worker_env)
    victim, survivor = Member(env, "victim", tmp_path), Member(env, "survivor", tmp_path)
    try:
        start_group([victim, survivor])
        produce_in_order(env, envelopes, backlog_start_ms(envelopes))
        wait_for_alerts(env, len(expected) // 3, [victim, survivor])
        owned = assignments(env).get(victim.env.url, set())
        assert owned, "the victim owned no partition when it was killed"
        assert victim.process is not None and survivor.process is not None
        killed_at = time.time()
        victim.process.kill()
        ends = alert_ends(env)
        assert sum(ends.values()) < len(expected), "the kill came too late to interrupt anything"
        wait_caught_up(env, survivor.process, timeout=600)
        assert assignments(env) == {survivor.env.url: set(range(PARTITIONS))}
    finally:
        victim.close()
        survivor.close()

    records = assert_equals_replay(env, expected)
    first = first_alert_after(records, owned, ends)
    assert first is not None, "no alert came out of the killed worker's partitions after the kill"
    failover = datetime.fromisoformat(first["emitted_at"]).timestamp() - killed_at
    print(
        f"killed a worker owning partitions {sorted(owned)} after {sum(ends.values())} of {len(expected)} "
        f"alert events; first alert from its partitions {failover:.1f} s later; {len(records)} records, "
        f"{len(records) - len(expected)} re-deliveries"
    )


def test_rolling_restart_of_two_workers_loses_and_duplicates_nothing(
    make_worker_env: Callable[..., WorkerEnv],
    tmp_path: Path,
    feed: tuple[list[Envelope], dict[AlertKey, dict[str, Any]]],
) -> None:
    envelopes, expected = feed
    env = group_env(make_worker_env)
    first, second = Member(env, "first", tmp_path), Member(env, "second", tmp_path)
    members = [first, second]
    start_ms = backlog_start_ms(envelopes)
    half = len(envelopes) // 2
    try:
        start_group([first, second])
        # Each restart lands in the middle of a half of the input, so both happen while work is flowing.
        for n, member in enumerate(members):
            end = half if n == 0 else len(envelopes)
            produce_in_order(env, envelopes[:end], start_ms, half * n)
            wait_for_alerts(env, len(expected) * (2 * n + 1) // 5, members)
            assert member.process is not None
            assert member.process.stop() == 0, member.process.log()[-3000:]
            member.start()
            member.ready()
            wait_for_split(env, members)
        assert second.process is not None
        wait_caught_up(env, second.process, timeout=600)
        assert first.alive() is None, first.alive()
    finally:
        first.close()
        second.close()

    records = assert_equals_replay(env, expected)
    print(f"{len(records)} alert records for {len(expected)} alert events")
    assert len(records) == len(expected), f"{len(records) - len(expected)} alert events published twice"
