"""Benchmark (not a test): `lytewatch replay` events/s on the throughput workload file, --jobs 1 and 2.

Run: .venv/bin/python tests/bench/bench_replay.py [--events 200000] [--runs 5] [--jobs 1 2]
Target (issue 11): >= 20,000 events/s single process, --jobs 2 >= 1.7 x --jobs 1. Wall time of the whole
command (interpreter start-up included), median of --runs runs, runs of each --jobs value alternating.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from streams.bench.replay import THROUGHPUT_EVENTS, replay_seconds, write_throughput_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=THROUGHPUT_EVENTS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "throughput.ndjson"
        events = write_throughput_file(path, args.events)
        times: dict[int, list[float]] = {jobs: [] for jobs in args.jobs}
        for _ in range(args.runs):
            for jobs in args.jobs:
                times[jobs].append(replay_seconds(path, jobs=jobs))
    print(f"{events} events, {args.runs} runs each, load average before/after {os.getloadavg()[0]:.2f}")
    base = None
    for jobs, seconds in times.items():
        rate = events / statistics.median(seconds)
        base = base or rate
        spread = ", ".join(f"{events / s:,.0f}" for s in seconds)
        ratio = rate / base
        first = args.jobs[0]
        print(f"--jobs {jobs}: median {rate:,.0f} events/s ({ratio:.2f} x --jobs {first}); runs: {spread}")


if __name__ == "__main__":
    main()
