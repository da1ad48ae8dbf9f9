"""Per-patient state does not grow forever: discharged patients (24 h, event time) and idle ones go."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.support.kafka import produce
from tests.support.processes import Process, WorkerEnv, http_get, running_worker
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def gauge(env: WorkerEnv, name: str) -> float:
    _, body = http_get(f"{env.url}/metrics")
    match = re.search(rf"^{name} (\S+)$", body.decode(), re.MULTILINE)
    assert match, f"{name} not exported"
    return float(match.group(1))


def wait_for_gauge(env: WorkerEnv, worker: Process, name: str, wanted: float, timeout: float = 60) -> None:
    eventually(
        lambda: gauge(env, name) == wanted,
        f"{name} == {wanted}",
        within=timeout,
        interval=0.3,
        alive=worker.death,
    )


def lab(patient: str, result_id: str, at: str) -> bytes:
    return orjson.dumps(
        {
            "result_id": result_id,
            "patient_id": patient,
            "code": "2823-3",
            "value": 4.1,
            "unit": "mmol/L",
            "collected_at": at,
        }
    )


def test_a_patient_discharged_over_24_hours_ago_is_dropped(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env(LYTEWATCH_SWEEP_INTERVAL_S="0.5")
    discharge = {
        "patient_id": "GONE-1",
        "encounter_id": "E1",
        "event": "discharge",
        "occurred_at": "2026-05-01T12:00:00Z",
    }
    with running_worker(env, tmp_path / "worker.log") as worker:
        asyncio.run(
            produce(
                env.bootstrap,
                env.topics["labs"],
                [
                    (b"GONE-1", lab("GONE-1", "A1", "2026-05-01T08:00:00Z")),
                    (b"STAY-1", lab("STAY-1", "B1", "2026-05-01T09:00:00Z")),
                ],
            )
        )
        asyncio.run(produce(env.bootstrap, env.topics["adt"], [(b"GONE-1", orjson.dumps(discharge))]))
        wait_for_gauge(env, worker, "lytewatch_patients_in_state", 2)
        # Event time moves on: another patient's result 25 h after the discharge.
        asyncio.run(
            produce(
                env.bootstrap, env.topics["labs"], [(b"STAY-1", lab("STAY-1", "B2", "2026-05-02T13:00:00Z"))]
            )
        )
        wait_for_gauge(env, worker, "lytewatch_patients_in_state", 1)
        assert "dropping 1 patients" in worker.log()


def test_patients_silent_for_the_idle_time_are_dropped(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    # 0.00005 days is about 4 s of wall clock.
    env = make_worker_env(LYTEWATCH_SWEEP_INTERVAL_S="0.5", LYTEWATCH_IDLE_PATIENT_DAYS="0.00005")
    with running_worker(env, tmp_path / "worker.log") as worker:
        asyncio.run(
            produce(
                env.bootstrap,
                env.topics["labs"],
                [(f"IDLE-{n}".encode(), lab(f"IDLE-{n}", f"R{n}", "2026-05-01T08:00:00Z")) for n in range(3)],
            )
        )
        wait_for_gauge(env, worker, "lytewatch_patients_in_state", 3)
        wait_for_gauge(env, worker, "lytewatch_patients_in_state", 0, timeout=60)
