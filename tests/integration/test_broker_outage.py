"""A worker outlives its broker: it waits for a broker not there yet, and reports outages on /readyz."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.support.broker import Broker
from tests.support.kafka import consume, produce
from tests.support.processes import Process, WorkerEnv, http_get, wait_until_ready
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def readyz(env: WorkerEnv) -> tuple[int, dict[str, object]]:
    status, body = http_get(f"{env.url}/readyz", timeout=5)
    return status, json.loads(body)


def wait_for_status(env: WorkerEnv, worker: Process, wanted: int, timeout: float) -> dict[str, object]:
    def answered() -> dict[str, object] | None:
        status, body = readyz(env)
        return body if status == wanted else None

    return eventually(
        answered,
        f"/readyz to answer {wanted}",
        within=timeout,
        interval=0.5,
        alive=worker.death,
        ignore=(OSError,),
    )


def test_worker_started_before_its_broker_waits_then_works_and_readyz_follows_outages(
    private_broker: Broker, make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    env.bootstrap = private_broker.bootstrap
    worker = Process(["worker"], env.environ(), tmp_path / "worker.log")
    try:
        # The signal that it waits: it says so, once. Becoming ready once the broker starts (below) then
        # shows it kept retrying instead of giving up.
        eventually(lambda: "waiting for it" in worker.log(), "the worker to say it waits", alive=worker.death)

        private_broker.run("start")
        wait_until_ready(worker, env.url, timeout=120)
        lab = {
            "result_id": "R-OUT-1",
            "patient_id": "MRN-OUT",
            "code": "2823-3",
            "value": 3.3,
            "unit": "mmol/L",
            "collected_at": "2026-03-01T10:00:00Z",
        }
        asyncio.run(produce(env.bootstrap, env.topics["labs"], [(b"k", orjson.dumps(lab))]))
        forwarded = asyncio.run(consume(env.bootstrap, env.topics["patient_events"], expected=1, timeout=60))
        assert [r.key for r in forwarded] == [b"MRN-OUT"]

        private_broker.run("stop")
        body = wait_for_status(env, worker, 503, timeout=60)
        checks = body["checks"]
        assert isinstance(checks, dict)
        assert checks["broker"]["ok"] is False
        assert "unreachable" in checks["broker"]["detail"]
        assert worker.popen.poll() is None, "the worker must survive a broker outage"

        private_broker.run("start")
        body = wait_for_status(env, worker, 200, timeout=120)
        assert body["status"] == "ready"
    finally:
        worker.stop()
