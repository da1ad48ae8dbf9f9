"""The chaos suite (`make chaos`, deselected from `make test`): worker SIGKILLs, a broker kill -9 and a
graceful broker restart during a drain still equal replay per patient; a large hostile mix loses nothing."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from streams.feeds.simulate import FaultMix, simulate
from tests.integration.test_backlog_order import assert_equal_per_patient, per_patient, produce_backlog
from tests.integration.test_hostile_mix import MIX, hl7_panel, metric
from tests.support.broker import Broker
from tests.support.drain import replay_alerts, streamed_alerts, wait_caught_up
from tests.support.kafka import consume, create_topics, produce
from tests.support.messages import lab_json
from tests.support.processes import Process, WorkerEnv, http_get, running_worker, wait_until_ready
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(7200)]


def size(name: str, default: int) -> int:
    """A chaos size, overridable by LYTEWATCH_CHAOS_<NAME> for a quicker or harder run."""
    return int(os.environ.get(f"LYTEWATCH_CHAOS_{name}", default))


@pytest.fixture
def chaos_env(
    private_broker: Broker, unique_name: Callable[[str], str], tmp_path: Path
) -> Iterator[WorkerEnv]:
    """A worker environment on a started private broker (this test may kill it)."""
    private_broker.run("start")
    yield WorkerEnv(
        bootstrap=private_broker.bootstrap, prefix=unique_name("chaos"), data_dir=tmp_path / "data"
    )


def preloaded(env: WorkerEnv, events: int) -> dict[str, list[tuple[str, str, int, str, str, str | None]]]:
    """`simulate --patients 2000 --events N --seed 42` produced in file order; returns its replay."""
    envelopes = list(simulate(2000, 42, events, None, 1000.0, FaultMix()))
    expected = per_patient(replay_alerts(envelopes))
    assert sum(map(len, expected.values())) > 30, f"{events} events must exercise the rules to prove anything"
    asyncio.run(create_topics(env.bootstrap, env.topics.values(), partitions=2))
    asyncio.run(produce_backlog(env, envelopes))
    return expected


def test_ten_worker_sigkills_some_with_an_empty_data_dir_still_equal_replay(
    chaos_env: WorkerEnv, tmp_path: Path
) -> None:
    expected = preloaded(chaos_env, size("EVENTS", 100_000))
    rng = random.Random(42)
    for n in range(size("KILLS", 10)):
        worker = Process(["worker"], chaos_env.environ(), tmp_path / f"worker-{n}.log")
        wait_until_ready(worker, chaos_env.url, timeout=600)
        moment = rng.uniform(0.5, 10.0)
        time.sleep(moment)  # the random moment of the crash is the point of the test, not a wait
        assert worker.death() is None, worker.death()
        worker.kill()
        wiped = rng.random() < 0.3
        if wiped:
            shutil.rmtree(chaos_env.data_dir, ignore_errors=True)
        print(f"kill {n + 1}: SIGKILL {moment:.1f} s after ready{', data dir wiped' if wiped else ''}")
    with running_worker(chaos_env, tmp_path / "worker-last.log") as worker:
        wait_caught_up(chaos_env, worker, timeout=3600)
    assert_equal_per_patient(expected, per_patient(streamed_alerts(chaos_env)))


def inputs(env: WorkerEnv) -> float:
    """The worker's input messages so far, from its /metrics."""
    return metric(http_get(f"{env.url}/metrics")[1].decode(), "lytewatch_input_messages_total")


def test_a_broker_kill_9_for_20_s_and_a_graceful_broker_restart_under_load_equal_replay(
    chaos_env: WorkerEnv, private_broker: Broker, tmp_path: Path
) -> None:
    expected = preloaded(chaos_env, size("BROKER_EVENTS", 20_000))
    with running_worker(chaos_env, tmp_path / "worker.log") as worker:
        eventually(lambda: inputs(chaos_env) > 0, "the drain to start", within=300, alive=worker.death)
        pid = private_broker.pid
        os.kill(pid, signal.SIGKILL)
        eventually(lambda: not os.path.exists(f"/proc/{pid}"), "the broker to die", within=30)
        print(f"broker pid {pid} killed -9 after {inputs(chaos_env):.0f} inputs")
        time.sleep(20)  # the outage's length is the scenario
        assert worker.death() is None, f"the worker died during the broker outage: {worker.death()}"
        private_broker.run("start")
        before = inputs(chaos_env)
        eventually(
            lambda: inputs(chaos_env) > before,
            "the drain to go on after the kill -9",
            within=600,
            alive=worker.death,
        )
        private_broker.run("stop")
        private_broker.run("start")
        print(f"broker stopped and started gracefully after {inputs(chaos_env):.0f} inputs")
        wait_caught_up(chaos_env, worker, timeout=3600)
    assert_equal_per_patient(expected, per_patient(streamed_alerts(chaos_env)))


def hostile(count: int) -> list[tuple[bytes, bytes, str]]:
    """`count` labs messages (key, raw, outcome): valid traffic, cancellations and the hostile MIX's kinds
    (the heavy ones, ~1 MB each, once every 2,000 messages)."""
    light = [(raw, outcome) for raw, outcome in MIX if len(raw) < 10_000]
    heavy = [(raw, outcome) for raw, outcome in MIX if len(raw) >= 10_000]
    out: list[tuple[bytes, bytes, str]] = []
    for n in range(count):
        patient = f"C{n % 500}"
        if n % 2000 == 1999:
            raw, outcome = heavy[(n // 2000) % len(heavy)]
            out.append((b"MRN-H" if raw == hl7_panel(10_000) else patient.encode(), raw, outcome))
        elif n % 7 == 3:
            raw, outcome = light[n % len(light)]
            out.append((patient.encode(), raw, outcome))
        elif n % 5 == 4:
            cancel = lab_json(patient_id=patient, result_id=f"R{n - 1}", status="cancelled", value=None)
            out.append((patient.encode(), orjson.dumps(cancel), "used"))
        else:
            lab = lab_json(patient_id=patient, result_id=f"R{n}", value=round(2.8 + (n % 20) / 10, 1))
            out.append((patient.encode(), orjson.dumps(lab), "used"))
    return out


def test_a_large_hostile_mix_loses_nothing_per_message(chaos_env: WorkerEnv, tmp_path: Path) -> None:
    env = WorkerEnv(
        chaos_env.bootstrap, chaos_env.prefix, chaos_env.data_dir, extra={"LYTEWATCH_PARTITIONS": "1"}
    )
    labs = env.topics["labs"]
    mix = hostile(size("HOSTILE", 20_000))
    bad = {n: outcome for n, (_, _, outcome) in enumerate(mix) if outcome not in ("used", "ignored")}
    with running_worker(env, tmp_path / "worker.log") as worker:
        asyncio.run(produce(env.bootstrap, labs, [(key, raw) for key, raw, _ in mix]))
        letters = asyncio.run(
            consume(env.bootstrap, env.topics["deadletter"], expected=len(bad), timeout=900)
        )

        def counted() -> str | None:
            body = http_get(f"{env.url}/metrics")[1].decode()
            return body if metric(body, "lytewatch_input_messages_total", topic=labs) == len(mix) else None

        body = eventually(counted, "every message counted on /metrics", within=900, alive=worker.death)
    got = {
        r["offset"]: r["reason"] for r in map(orjson.loads, (x.value for x in letters)) if r["topic"] == labs
    }
    assert got == bad, f"dead letters by offset differ: {sorted(set(got.items()) ^ set(bad.items()))[:5]}"
    outcomes = Counter(outcome for _, _, outcome in mix)
    used = metric(body, "lytewatch_input_used_total", topic=labs)
    ignored = metric(body, "lytewatch_ignored_total", topic=labs)
    dead = metric(body, "lytewatch_deadletter_total", topic=labs, stage="ingest")
    print(f"hostile mix: {len(mix)} in = {used:.0f} used + {ignored:.0f} ignored + {dead:.0f} dead letters")
    assert (used, ignored, dead) == (outcomes["used"], outcomes["ignored"], len(bad))
    assert len(mix) == used + ignored + dead
