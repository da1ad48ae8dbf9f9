"""A worker whose broker is gone stays quiet (repeated connection errors are summarised, not repeated
thousands of times a second), does not spin the CPU, and stops on SIGTERM within its shutdown bound."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.processes import Process, WorkerEnv, http_get, wait_until_ready
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: How long the outage is watched: longer than the log summary interval, so summaries show up in it.
WATCH_S = 40.0
SHUTDOWN_TIMEOUT_S = 10


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shape(line: str) -> str:
    """A log line without its time stamp and numbers: lines of one cause have one shape."""
    return re.sub(r"\d+", "N", line.partition(" ")[2])[:120]


def seconds_to_stop(worker: Process, give_up_s: float = 90.0) -> float:
    """SIGTERM the worker and measure how long it takes to exit (give_up_s if it does not)."""
    worker.popen.send_signal(signal.SIGTERM)
    asked = time.monotonic()
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.popen.wait(timeout=give_up_s)
    return time.monotonic() - asked


def start_worker(
    broker: Broker, make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> tuple[WorkerEnv, Process]:
    """The private broker started and a worker on it ready, with the test's shutdown bound."""
    broker.run("start")
    env = make_worker_env(LYTEWATCH_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S))
    env.bootstrap = broker.bootstrap
    worker = Process(["worker"], env.environ(), tmp_path / "worker.log")
    try:
        wait_until_ready(worker, env.url, timeout=120)
    except AssertionError:
        worker.stop(timeout=5)
        raise
    return env, worker


def test_a_worker_without_its_broker_is_quiet_idle_and_stops_in_bounded_time(
    private_broker: Broker, make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    env, worker = start_worker(private_broker, make_worker_env, tmp_path)
    try:
        private_broker.run("stop")
        eventually(
            lambda: http_get(f"{env.url}/readyz", timeout=5)[0] == 503,
            "/readyz to see the broker gone",
            within=60,
            ignore=(OSError,),
        )
        start_log = len(worker.log())
        start_cpu, started = cpu_seconds(worker.popen.pid), time.monotonic()
        # An observation window, not a wait for something: what the worker does with no broker.
        time.sleep(WATCH_S)
        cpu_share = (cpu_seconds(worker.popen.pid) - start_cpu) / (time.monotonic() - started)
        outage_lines = worker.log()[start_log:].splitlines()

        stop_s = seconds_to_stop(worker)
    finally:
        worker.stop(timeout=5)

    shapes = Counter(shape(line) for line in outage_lines)
    worst = shapes.most_common(3)
    print(f"outage: {len(outage_lines)} lines in {WATCH_S:.0f} s, CPU {cpu_share:.0%}, stop {stop_s:.1f} s")
    assert len(outage_lines) <= 40 * WATCH_S / 10, f"{len(outage_lines)} lines; most repeated: {worst}"
    assert all(n <= 3 for _, n in worst), f"a cause repeated: {worst}"
    assert cpu_share < 0.25, f"the worker used {cpu_share:.0%} of a CPU with no broker"
    assert worker.popen.returncode is not None and stop_s <= SHUTDOWN_TIMEOUT_S + 5, (
        f"SIGTERM took {stop_s:.1f} s (bound {SHUTDOWN_TIMEOUT_S} s):\n{worker.log()[-3000:]}"
    )


def test_sigterm_stops_a_worker_whose_broker_hangs_within_the_bound(
    private_broker: Broker, make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    _, worker = start_worker(private_broker, make_worker_env, tmp_path)
    broker_pid = 0
    try:
        broker_pid = private_broker.pid
        # A hung broker (a long GC pause, a stuck disk): connections stay open, nothing answers.
        os.kill(broker_pid, signal.SIGSTOP)
        stop_s = seconds_to_stop(worker)
    finally:
        if broker_pid:
            os.kill(broker_pid, signal.SIGCONT)
        worker.stop(timeout=5)

    print(f"stop with the broker hung: {stop_s:.1f} s, exit code {worker.popen.returncode}")
    assert stop_s <= SHUTDOWN_TIMEOUT_S + 5, f"SIGTERM took {stop_s:.1f} s:\n{worker.log()[-3000:]}"
