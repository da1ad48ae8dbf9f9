"""`lytewatch demo` as a newcomer runs it: URLs once the children answer, an alert soon after, clean stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.processes import REPO, WorkerEnv, http_get
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Demo:
    """A running `lytewatch demo` and the lines it has printed so far (read on a thread)."""

    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def wait_for_line(self, text: str, within: float) -> float:
        """Wait until a printed line contains `text`; returns the monotonic time it was seen."""

        def seen() -> float | None:
            return time.monotonic() if any(text in line for line in list(self.lines)) else None

        return eventually(seen, f"a line with {text!r}", within=within, interval=0.05, alive=self.death)

    def death(self) -> str | None:
        """None while the demo runs; else its exit code and everything it printed."""
        if self.popen.poll() is None:
            return None
        if self.reader is not None:
            self.reader.join(timeout=10)  # every line it printed, before judging
        return f"demo exited with {self.popen.returncode}:\n{''.join(self.lines)}"


def _children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demo_env(kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path) -> dict[str, str]:
    """The demo's environment: the shared broker, and topics, app id, ports and data dir of its own."""
    env = WorkerEnv(bootstrap=kafka_bootstrap, prefix=unique_name("demo"), data_dir=tmp_path / "worker")
    environ = env.environ()
    environ["LYTEWATCH_DASHBOARD_PORT"] = str(free_port())
    # As `make run` starts it: no sign-in configured, which the demo turns into `none` and says so.
    del environ["LYTEWATCH_DASHBOARD_AUTH"]
    return environ


@pytest.fixture
def start_demo(tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    """Start `lytewatch demo` in its own directory; whatever is left running is stopped at the end."""
    started: list[Demo] = []

    def start(env: dict[str, str], *args: str) -> Demo:
        popen = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "demo", *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, like a job in a terminal: Ctrl-C goes to the demo and its children.
            start_new_session=True,
        )
        demo = Demo(popen)
        assert popen.stdout is not None
        stdout = popen.stdout
        demo.reader = threading.Thread(
            target=lambda: demo.lines.extend(iter(stdout.readline, "")), daemon=True
        )
        demo.reader.start()
        started.append(demo)
        return demo

    yield start
    for demo in started:
        if demo.popen.poll() is None:
            demo.popen.send_signal(signal.SIGTERM)
            demo.popen.wait(timeout=60)
        if demo.reader is not None:
            demo.reader.join(timeout=10)
        if demo.popen.stdout is not None:
            demo.popen.stdout.close()


def test_first_alert_within_seconds_of_the_urls_and_ctrl_c_stops_every_child(
    demo_env: dict[str, str], start_demo: Callable[..., Demo]
) -> None:
    demo = start_demo(demo_env)
    urls_at = demo.wait_for_line("lytewatch is running", within=180)
    dashboard = f"http://127.0.0.1:{demo_env['LYTEWATCH_DASHBOARD_PORT']}"
    worker = f"http://127.0.0.1:{demo_env['LYTEWATCH_WEB_PORT']}"
    # The URLs are printed only once both children answer on their ports.
    assert http_get(f"{worker}/readyz")[0] == 200
    assert http_get(f"{dashboard}/readyz")[0] == 200
    children = _children_of(demo.popen.pid)
    assert len(children) == 2, children
    # The dashboard runs without sign-in (loopback only), and the console says so next to its URL.
    demo.wait_for_line("sign-in     NONE (LYTEWATCH_DASHBOARD_AUTH=none)", within=5)

    def alert_shown() -> bool:
        status, body = http_get(f"{dashboard}/api/alerts")
        return status == 200 and bool(json.loads(body)["alerts"])

    eventually(alert_shown, "an alert on /api/alerts", within=60, interval=0.2, alive=demo.death)
    first_alert_s = time.monotonic() - urls_at
    print(f"\nfirst alert on /api/alerts {first_alert_s:.1f} s after the URLs were printed")

    # Ctrl-C in a terminal: SIGINT to the whole group, so the children get it at the same moment.
    os.killpg(demo.popen.pid, signal.SIGINT)
    assert demo.popen.wait(timeout=60) == 0, "".join(demo.lines)
    assert "lytewatch demo:" not in "".join(demo.lines), "a clean stop reported as a failure"
    assert not [pid for pid in children if _alive(pid)], "a child outlived the demo"


def test_a_taken_port_stops_the_demo_with_exit_2_naming_it(
    demo_env: dict[str, str], start_demo: Callable[..., Demo]
) -> None:
    port = int(demo_env["LYTEWATCH_DASHBOARD_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        demo = start_demo(demo_env)
        assert demo.popen.wait(timeout=60) == 2
    output = "".join(demo.lines)
    assert f"port {port} (dashboard, LYTEWATCH_DASHBOARD_PORT)" in output, output
    assert "already in use" in output, output
    assert "lytewatch is running" not in output


def test_a_child_that_exits_stops_everything_with_exit_2(
    demo_env: dict[str, str], start_demo: Callable[..., Demo]
) -> None:
    demo = start_demo(demo_env, "--feed", "simulate")
    demo.wait_for_line("lytewatch is running", within=180)
    children = _children_of(demo.popen.pid)
    worker = next(pid for pid in children if "worker" in Path(f"/proc/{pid}/cmdline").read_text())
    os.kill(worker, signal.SIGKILL)
    assert demo.popen.wait(timeout=60) == 2
    output = "".join(demo.lines)
    assert "the worker exited" in output, output
    assert not [pid for pid in children if _alive(pid)], "the dashboard outlived the demo"


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[str]:
    """A broker of this test alone (so that it can be stopped under a running demo); yields host:port."""
    port, controller = free_port(), free_port()
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(controller)}
    env["KAFKA_DATA_DIR"] = str(tmp_path / "kafka")
    kafkactl = [str(REPO / "deploy" / "kafka" / "kafkactl.sh")]
    subprocess.run([*kafkactl, "start"], env=env, check=True, timeout=180, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*kafkactl, "stop"], env=env, check=False, timeout=60, capture_output=True)


def test_sigterm_stops_every_child_after_the_broker_is_gone(
    private_broker: str, demo_env: dict[str, str], start_demo: Callable[..., Demo], tmp_path: Path
) -> None:
    env = {**demo_env, "LYTEWATCH_BROKER": f"kafka://{private_broker}"}
    demo = start_demo(env)
    demo.wait_for_line("lytewatch is running", within=180)
    children = _children_of(demo.popen.pid)
    assert len(children) == 2, children
    stop_env = {
        **os.environ,
        "KAFKA_PORT": private_broker.rsplit(":", 1)[1],
        "KAFKA_DATA_DIR": str(tmp_path / "kafka"),
    }
    subprocess.run(
        [str(REPO / "deploy" / "kafka" / "kafkactl.sh"), "stop"], env=stop_env, check=True, timeout=60
    )
    demo.popen.send_signal(signal.SIGTERM)
    # Children that hang on a dead broker get SIGKILL after the demo's grace period (10 s).
    assert demo.popen.wait(timeout=60) == 0
    assert not [pid for pid in children if _alive(pid)], "a child outlived the demo"
