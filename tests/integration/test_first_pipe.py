"""The first pipe on the real broker: topics from nothing, a lab result in, a patient event out."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from streams.worker.envelope import decode_envelope
from tests.support import messages
from tests.support.kafka import consume, produce
from tests.support.processes import LYTEWATCH, REPO, WorkerEnv, running_worker

pytestmark = pytest.mark.integration


def lab_result(**overrides: object) -> dict[str, object]:
    """The shared native lab result (tests/support/messages.py) for this test's patient."""
    mine = {"result_id": "R-1001", "patient_id": "MRN-PIPE-1", "encounter_id": "E-7"}
    when = {"collected_at": "2026-03-01T10:00:00+01:00", "resulted_at": None, "status": None}
    return messages.lab_json(**{**mine, **when, **overrides})


def topics_create(env: WorkerEnv) -> subprocess.CompletedProcess[str]:
    command = [*LYTEWATCH, "topics", "create"]
    return subprocess.run(command, env=env.environ(), cwd=REPO, capture_output=True, text=True, timeout=120)


def test_topics_create_makes_every_topic_then_finds_them(
    make_worker_env: Callable[..., WorkerEnv],
) -> None:
    env = make_worker_env()
    first = topics_create(env)
    assert first.returncode == 0, first.stderr
    for name in env.topics.values():
        assert f"{name} " in first.stdout
    assert first.stdout.count("created") == len(env.topics)

    again = topics_create(env)
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout
    assert again.stdout.count("exists (2 partitions)") == len(env.topics)


def test_lab_result_reaches_patient_events_keyed_by_patient(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    subprocess.run([*LYTEWATCH, "topics", "create"], env=env.environ(), cwd=REPO, check=True, timeout=120)
    # Keyed by something else on purpose: the worker must re-key by patient id.
    asyncio.run(produce(env.bootstrap, env.topics["labs"], [(b"lab-feed-7", orjson.dumps(lab_result()))]))

    with running_worker(env, tmp_path / "worker.log"):
        records = asyncio.run(consume(env.bootstrap, env.topics["patient_events"], expected=1, timeout=60))

    assert len(records) == 1
    record = records[0]
    assert record.key == b"MRN-PIPE-1"
    envelope = decode_envelope(record.value)
    assert envelope.event.kind == "labs"
    (result,) = envelope.event.results  # type: ignore[union-attr]
    assert result.result_id == "R-1001"
    assert result.value == 3.1
    assert result.collected_at.isoformat() == "2026-03-01T10:00:00+01:00"
    assert envelope.origin.topic == env.topics["labs"]
    assert envelope.origin.offset == 0


def test_bad_input_is_dead_lettered_and_the_worker_goes_on(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env = make_worker_env()
    with running_worker(env, tmp_path / "worker.log") as worker:
        asyncio.run(
            produce(
                env.bootstrap,
                env.topics["labs"],
                [
                    (b"x", b"\x00\xffnot json at all"),
                    (b"x", orjson.dumps(lab_result(result_id="R-2", value="hemolyzed"))),
                    (b"x", orjson.dumps(lab_result(result_id="R-3"))),
                ],
            )
        )
        forwarded = asyncio.run(consume(env.bootstrap, env.topics["patient_events"], expected=1, timeout=60))
        dead = asyncio.run(consume(env.bootstrap, env.topics["deadletter"], expected=2, timeout=30))
        assert worker.popen.poll() is None, "the worker must survive bad input"

    assert [decode_envelope(r.value).event.results[0].result_id for r in forwarded] == ["R-3"]  # type: ignore[union-attr]
    reasons = sorted(orjson.loads(r.value)["reason"] for r in dead)
    assert reasons == ["non_numeric_value", "not_json"]
    offsets = sorted(orjson.loads(r.value)["offset"] for r in dead)
    assert offsets == [0, 1]
