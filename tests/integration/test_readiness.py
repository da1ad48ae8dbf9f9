"""/readyz tells the truth on the real broker: 503 naming the check when the engine is stuck with work
waiting (its alerts topic deleted), and while the state store's disk is full."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafka import produce
from tests.support.messages import lab_json, order_json
from tests.support.processes import Process, WorkerEnv, http_get, running_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def failing_checks(env: WorkerEnv) -> dict[str, Any] | None:
    """The failing checks of a 503 /readyz, or None while it answers 200."""
    status, body = http_get(f"{env.url}/readyz", timeout=5)
    if status == 200:
        return None
    assert status == 503, body
    return {name: c["detail"] for name, c in json.loads(body)["checks"].items() if not c["ok"]}


def alive(worker: Process) -> Callable[[], str | None]:
    return lambda: None if worker.popen.poll() is None else f"worker exited:\n{worker.log()[-3000:]}"


def wait_for_failing(env: WorkerEnv, worker: Process, check: str, within: float) -> dict[str, Any]:
    """Poll /readyz until it answers 503 with `check` failing; return the failing checks."""
    return eventually(
        lambda: (checks := failing_checks(env)) and check in checks and checks,
        f"/readyz to fail {check}",
        within=within,
        alive=alive(worker),
    )


async def _delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


def test_an_engine_stuck_with_work_waiting_is_not_ready_and_says_so(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env(LYTEWATCH_STALL_AFTER_S="8", LYTEWATCH_PARTITIONS="1")
    with running_worker(env, tmp_path / "worker.log") as worker:
        try:
            # Its alerts cannot be produced: the engine waits for a topic that no longer exists.
            asyncio.run(_delete_topic(env.bootstrap, env.topics["alerts"]))
            asyncio.run(produce(env.bootstrap, env.topics["orders"], [(b"k", orjson.dumps(order_json()))]))
            labs = [lab_json(value=2.9), lab_json(result_id="R2", code="19123-9", value=0.5)]
            asyncio.run(produce(env.bootstrap, env.topics["labs"], [(b"k", orjson.dumps(m)) for m in labs]))

            failing = wait_for_failing(env, worker, "progress", within=120)
        finally:
            worker.kill()  # it is stuck by design; how a worker stops is another test's subject

    assert failing["progress"].startswith("engine: no batch finished for ")
    assert "messages waiting" in failing["progress"]


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (the test runs as root, like CI), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"this test needs root to mount a small disk: {mounted.stderr}"
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Write a file until the disk is full; returns it."""
    filler = path / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_full_state_disk_is_not_ready_naming_the_store_and_ready_again_once_freed(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env(LYTEWATCH_PARTITIONS="1")
    with small_disk(env.data_dir, "256m"), running_worker(env, tmp_path / "worker.log") as worker:
        filler = fill(env.data_dir)
        try:
            failing = wait_for_failing(env, worker, "state_store", within=60)
        finally:
            filler.unlink()
        assert "No space left on device" in failing["state_store"]
        assert str(env.data_dir) in failing["state_store"]

        eventually(
            lambda: failing_checks(env) is None, "/readyz to be 200 again", within=60, alive=alive(worker)
        )
