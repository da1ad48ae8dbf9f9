"""Benchmark (not a test): `lytewatch replay` events/s on the throughput workload file, --jobs 1 and 2.

Run from the repository root: .venv/bin/python -m tests.bench.bench_replay [--events N] [--runs 5]
Target (issue 11): >= 20,000 events/s single process, --jobs 2 >= 1.7 x --jobs 1. Wall time of the whole
command (interpreter start-up included), median of --runs runs, the --jobs values alternating. CPU time
(user + system of the command and its job processes) is printed too: on a shared, busy machine wall time
measures the other users as much as lytewatch, CPU time much less so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from streams.bench.replay import THROUGHPUT_EVENTS, ReplayRun, replay_run, write_throughput_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=THROUGHPUT_EVENTS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    runs: dict[int, list[ReplayRun]] = {jobs: [] for jobs in args.jobs}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "throughput.ndjson"
        events = write_throughput_file(path, args.events)
        for _ in range(args.runs):
            for jobs in args.jobs:
                runs[jobs].append(replay_run(path, jobs=jobs))
    print(f"{events} events, {args.runs} runs each, load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    first = args.jobs[0]
    base = events / statistics.median(r.wall_s for r in runs[first])
    for jobs, done in runs.items():
        wall = events / statistics.median(r.wall_s for r in done)
        cpu = events / statistics.median(r.cpu_s for r in done)
        spread = ", ".join(f"{events / r.wall_s:,.0f}" for r in done)
        print(
            f"--jobs {jobs}: median {wall:,.0f} events/s wall ({wall / base:.2f} x --jobs {first}), "
            f"{cpu:,.0f} events per CPU-second (all processes); wall runs: {spread}"
        )


if __name__ == "__main__":
    main()
