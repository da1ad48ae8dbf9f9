"""Readiness from the worker's own health: recent agent crashes, stalled stages with work, the state store."""

from __future__ import annotations

from pathlib import Path

from streams.settings import Settings
from streams.worker.watch import CRASH_WINDOW_S, Watch, probe_store, watch_checks

SETTINGS = Settings(stall_after_s=30)


def failing(watch: Watch, now: float) -> dict[str, str]:
    return {name: c["detail"] for name, c in watch_checks(watch, SETTINGS, now).items() if not c["ok"]}


def test_a_fresh_idle_worker_passes_every_check() -> None:
    watch = Watch(started=0.0)
    watch.set_lag("ingest", 0)
    watch.set_lag("engine", 0)

    assert failing(watch, now=1000.0) == {}


def test_an_agent_that_crashed_within_the_last_minute_is_named_until_the_minute_is_over() -> None:
    watch = Watch(started=0.0)
    watch.agent_crashed("lytewatch.engine", now=100.0)

    assert failing(watch, now=130.0) == {
        "agent_restarts": "lytewatch.engine crashed 30 s ago and was restarted"
    }
    assert failing(watch, now=100.0 + CRASH_WINDOW_S + 1) == {}


def test_a_stage_with_waiting_messages_and_no_finished_batch_is_stalled() -> None:
    watch = Watch(started=0.0)
    watch.batch_done("engine", now=100.0)
    watch.batch_done("ingest", now=100.0)
    watch.set_lag("engine", 250)
    watch.set_lag("ingest", 0)

    assert failing(watch, now=125.0) == {}
    assert failing(watch, now=145.0) == {
        "progress": "engine: no batch finished for 45 s with 250 messages waiting"
    }
    watch.batch_done("engine", now=146.0)
    assert failing(watch, now=147.0) == {}


def test_no_progress_without_waiting_messages_is_just_a_quiet_ward() -> None:
    watch = Watch(started=0.0)
    watch.set_lag("engine", 0)

    assert failing(watch, now=10_000.0) == {}


def test_the_store_probe_writes_and_cleans_up(tmp_path: Path) -> None:
    assert probe_store(tmp_path / "data") is None
    assert list((tmp_path / "data").iterdir()) == []


def test_the_store_probe_says_why_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    error = probe_store(blocker / "data")

    assert error is not None and error.startswith(f"cannot write to {blocker / 'data'}: ")


def test_a_store_that_cannot_write_fails_readiness_with_the_reason() -> None:
    watch = Watch(started=0.0, store_error="cannot write to /data: No space left on device")

    assert failing(watch, now=1.0) == {"state_store": "cannot write to /data: No space left on device"}
