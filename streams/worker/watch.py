"""What readiness knows of the worker itself: agent crashes, batches done against lag, a writable store."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.settings import Settings

#: An agent that crashed (and was restarted by faust) this recently keeps the worker not ready.
CRASH_WINDOW_S = 60.0
#: Bytes the state-store probe writes: enough that a full disk refuses it, small enough to cost nothing.
_PROBE_BYTES = 64 * 1024


@dataclass(slots=True)
class Watch:
    """Updated by the agents and timers, read by /readyz; times are time.monotonic() seconds."""

    started: float = field(default_factory=time.monotonic)
    crashes: dict[str, float] = field(default_factory=dict)
    progress: dict[str, float] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    # (topic, partition) -> the next offset after the last record a finished batch processed.
    processed: dict[tuple[str, int], int] = field(default_factory=dict)
    store_error: str | None = None

    def agent_crashed(self, agent: str, now: float | None = None) -> None:
        self.crashes[agent] = time.monotonic() if now is None else now

    def batch_done(
        self, stage: str, offsets: Iterable[tuple[str, int, int]] = (), now: float | None = None
    ) -> None:
        """A batch of `stage` (ingest, engine) was finished and confirmed; `offsets`: (topic, partition,
        offset) of its records."""
        self.progress[stage] = time.monotonic() if now is None else now
        for topic, partition, offset in offsets:
            if offset >= self.processed.get((topic, partition), 0):
                self.processed[(topic, partition)] = offset + 1

    def set_lag(self, stage: str, lag: int) -> None:
        """Messages waiting for `stage`, as last measured."""
        self.lag[stage] = lag

    def recent_crashes(self, now: float) -> dict[str, float]:
        """Agent -> seconds since it crashed, for crashes within CRASH_WINDOW_S."""
        return {name: now - at for name, at in self.crashes.items() if now - at < CRASH_WINDOW_S}

    def stalled(self, now: float, after_s: float) -> dict[str, tuple[float, int]]:
        """Stage -> (seconds without a finished batch, messages waiting), for stages stuck with work."""
        stuck = {}
        for stage, waiting in self.lag.items():
            idle = now - self.progress.get(stage, self.started)
            if waiting > 0 and idle > after_s:
                stuck[stage] = (idle, waiting)
        return stuck


def probe_store(data_dir: Path) -> str | None:
    """None if a small file can be written and synced in `data_dir`, else what went wrong (e.g. disk full)."""
    path = data_dir / ".lytewatch-write-probe"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return f"cannot write to {data_dir}: {exc.strerror or type(exc).__name__}"
    finally:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
    return None


def watch_checks(watch: Watch, settings: Settings, now: float) -> dict[str, dict[str, Any]]:
    """The /readyz checks this module answers, each naming what is wrong when it fails."""
    crashes = watch.recent_crashes(now)
    stalled = watch.stalled(now, settings.stall_after_s)
    return {
        "agent_restarts": {
            "ok": not crashes,
            "detail": (
                "; ".join(
                    f"{name} crashed {ago:.0f} s ago and was restarted" for name, ago in crashes.items()
                )
                or f"no agent crashed in the last {CRASH_WINDOW_S:.0f} s"
            ),
        },
        "progress": {
            "ok": not stalled,
            "detail": (
                "; ".join(
                    f"{stage}: no batch finished for {idle:.0f} s with {waiting} messages waiting"
                    for stage, (idle, waiting) in stalled.items()
                )
                or "making progress or nothing waiting"
            ),
        },
        "state_store": {
            "ok": watch.store_error is None,
            "detail": watch.store_error or ("writable" if settings.store == "rocksdb://" else "in memory"),
        },
    }
