"""Replay benchmark: the throughput workload as a replay file, and `lytewatch replay` events/s on it."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from streams.bench.feeds import synthetic_envelopes, throughput_patients
from streams.feeds import write_ndjson

#: Events in the throughput workload file (the same feed as the bench's throughput phase).
THROUGHPUT_EVENTS = 200_000


def write_throughput_file(path: Path, events: int = THROUGHPUT_EVENTS) -> int:
    """The throughput workload as a replay file: synthetic hospital, native JSON, no faults."""
    with path.open("wb") as out:
        return write_ndjson(synthetic_envelopes(events, patients=throughput_patients(events)), out)


def replay_seconds(path: Path, *, jobs: int) -> float:
    """Wall seconds of one `lytewatch replay --jobs N` process over `path` (start-up included)."""
    command = [sys.executable, "-m", "streams.cli", "replay", str(path), "-o", "/dev/null", "-j", str(jobs)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr[-2000:]
        raise RuntimeError(f"lytewatch replay --jobs {jobs} failed ({done.returncode}): {tail}")
    return elapsed


def replay_events_per_s(path: Path, *, events: int, jobs: int, runs: int) -> float:
    """Median events/s of `runs` replays of a file of `events` lines."""
    return statistics.median(events / replay_seconds(path, jobs=jobs) for _ in range(runs))
