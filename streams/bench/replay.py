"""Replay benchmark: the throughput workload as a replay file, and `lytewatch replay` events/s on it."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from streams.bench.feeds import synthetic_envelopes, throughput_patients
from streams.feeds import write_ndjson

#: Events in the throughput workload file (the same feed as the bench's throughput phase).
THROUGHPUT_EVENTS = 200_000


def write_throughput_file(path: Path, events: int = THROUGHPUT_EVENTS) -> int:
    """The throughput workload as a replay file: synthetic hospital, native JSON, no faults."""
    with path.open("wb") as out:
        return write_ndjson(synthetic_envelopes(events, patients=throughput_patients(events)), out)


@dataclass(frozen=True)
class ReplayRun:
    """One `lytewatch replay` process: wall seconds, and CPU seconds of it and its job processes."""

    wall_s: float
    cpu_s: float


def replay_run(path: Path, *, jobs: int) -> ReplayRun:
    """Run `lytewatch replay --jobs N` over `path` once (interpreter start-up included)."""
    command = [sys.executable, "-m", "streams.cli", "replay", str(path), "-o", "/dev/null", "-j", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = done.stderr[-2000:]
        raise RuntimeError(f"lytewatch replay --jobs {jobs} failed ({done.returncode}): {tail}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ReplayRun(wall_s=wall, cpu_s=cpu)


def replay_figures(events: int, runs: int) -> dict[str, float | int | str | None]:
    """`lytewatch replay` on the throughput workload file at --jobs 1 and 2: medians of `runs` runs each."""
    import statistics
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lytewatch-bench-replay-") as tmp:
        path = Path(tmp) / "throughput.ndjson"
        write_throughput_file(path, events)
        done: dict[int, list[ReplayRun]] = {1: [], 2: []}
        for _ in range(runs):
            for jobs in done:
                done[jobs].append(replay_run(path, jobs=jobs))
    one = events / statistics.median(r.wall_s for r in done[1])
    two = events / statistics.median(r.wall_s for r in done[2])
    return {
        "replay_events": events,
        "replay_events_per_s": round(one, 1),
        "replay_jobs2_events_per_s": round(two, 1),
        "replay_jobs2_speedup": round(two / one, 3),
        "replay_events_per_cpu_s": round(events / statistics.median(r.cpu_s for r in done[1]), 1),
    }
