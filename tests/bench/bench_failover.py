"""Benchmark (not a test): seconds from SIGKILL of one of two workers to the first alert from its partitions.

Run (broker on LYTEWATCH_TEST_KAFKA, default 127.0.0.1:9092): .venv/bin/python -m tests.bench.bench_failover
[--standby 0 1] [--runs 1]. `make failover` runs it. Each run: two workers of a fresh group (6 partitions,
unique topics), the crash test's workload produced as a backlog, SIGKILL of one worker once a third of the
alerts are out; the figure is the `emitted_at` of the first alert event written after the kill to a
partition the killed worker owned, minus the moment of the kill. Target (issue 11): < 15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from tests.integration.test_crash_recovery import workload
from tests.support.drain import replay_alerts
from tests.support.failover import (
    PARTITIONS,
    Member,
    alert_ends,
    alert_records,
    assignments,
    backlog_start_ms,
    first_alert_after,
    produce_in_order,
    replay_envelopes,
    start_group,
)
from tests.support.kafka import create_topics
from tests.support.processes import WorkerEnv
from tests.support.waiting import eventually


def one_run(bootstrap: str, standby: int, workdir: Path, expected_alerts: int) -> float:
    envelopes = replay_envelopes(*workload())
    env = WorkerEnv(
        bootstrap=bootstrap,
        prefix=f"bench-failover-{uuid.uuid4().hex[:8]}",
        data_dir=workdir / "unused",
        extra={"LYTEWATCH_PARTITIONS": str(PARTITIONS), "LYTEWATCH_STANDBY_REPLICAS": str(standby)},
    )
    asyncio.run(create_topics(bootstrap, env.topics.values(), partitions=PARTITIONS))
    victim, survivor = Member(env, "victim", workdir), Member(env, "survivor", workdir)
    try:
        start_group([victim, survivor])
        produce_in_order(env, envelopes, backlog_start_ms(envelopes))
        eventually(
            lambda: sum(alert_ends(env).values()) >= expected_alerts // 3, "a third of the alerts", within=300
        )
        owned = assignments(env)[victim.env.url]
        assert victim.process is not None and survivor.process is not None
        killed_at = time.time()
        victim.process.kill()
        ends = alert_ends(env)
        eventually(
            lambda: any(alert_ends(env)[p] > ends[p] for p in owned),
            "an alert from the killed worker's partitions",
            within=300,
            interval=0.2,
            alive=survivor.alive,
        )
        first = first_alert_after(alert_records(env), owned, ends)
        assert first is not None
        seconds = datetime.fromisoformat(first["emitted_at"]).timestamp() - killed_at
        print(f"standby replicas {standby}: {seconds:.1f} s (partitions {sorted(owned)})", flush=True)
        return seconds
    finally:
        victim.close()
        survivor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--standby", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    bootstrap = os.environ.get("LYTEWATCH_TEST_KAFKA", "127.0.0.1:9092")
    # A third of the workload's alert events (replay's count) is the kill point.
    expected_alerts = len(replay_alerts(replay_envelopes(*workload())))
    figures: dict[int, list[float]] = {n: [] for n in args.standby}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for standby in args.standby:
                workdir = Path(tmp) / f"run{run}-standby{standby}"
                workdir.mkdir()
                figures[standby].append(one_run(bootstrap, standby, workdir, expected_alerts))
    print(f"load average {os.getloadavg()[0]:.2f}")
    for standby, seconds in figures.items():
        runs = ", ".join(f"{s:.1f}" for s in seconds)
        print(
            f"failover, standby replicas {standby}: median {statistics.median(seconds):.1f} s; runs: {runs}"
        )


if __name__ == "__main__":
    main()
