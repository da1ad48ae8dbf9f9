"""Start real lytewatch processes (worker, ...) for integration tests, each with its own topics and ports."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from streams.topic_registry import TOPICS
from tests.support.ports import free_port
from tests.support.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
LYTEWATCH = [sys.executable, "-m", "streams.cli"]


@dataclass
class WorkerEnv:
    """The LYTEWATCH_* environment of one test's processes: unique app id, topics, ports and data dir."""

    bootstrap: str
    prefix: str
    data_dir: Path
    web_port: int = field(default_factory=free_port)
    extra: dict[str, str] = field(default_factory=dict)

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    @property
    def topics(self) -> dict[str, str]:
        """Settings name without `topic_` -> this test's topic, for every topic of the registry."""
        return {topic.setting.removeprefix("topic_"): self.topic(topic.kind) for topic in TOPICS}

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LYTEWATCH_")}
        env.update(
            {
                "LYTEWATCH_BROKER": f"kafka://{self.bootstrap}",
                "LYTEWATCH_APP_ID": self.prefix,
                "LYTEWATCH_DATA_DIR": str(self.data_dir),
                "LYTEWATCH_WEB_PORT": str(self.web_port),
                "LYTEWATCH_PARTITIONS": "2",
                # Test processes listen on loopback; a test of sign-in sets its own mode in `extra`.
                "LYTEWATCH_DASHBOARD_AUTH": "none",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for key, name in self.topics.items():
            env[f"LYTEWATCH_TOPIC_{key.upper()}"] = name
        env.update(self.extra)
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"


class Process:
    """A subprocess (`lytewatch` unless `program` says otherwise) whose output goes to a log file."""

    # Every process not yet stopped or killed, so a failing test's processes can be reaped after it
    # (`stop_leftovers`) instead of running on into, and warning in, the tests after it.
    live: set[Process] = set()  # noqa: RUF012 - shared on purpose

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        log_path: Path,
        *,
        program: list[str] = LYTEWATCH,
        cwd: Path = REPO,
    ) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [*program, *args], env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT
        )
        Process.live.add(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def death(self) -> str | None:
        """None while running; else its exit code and the end of its log (for a failing test's message)."""
        if self.popen.poll() is None:
            return None
        return f"process exited with {self.popen.returncode}:\n{self.log()[-4000:]}"

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flush — a crash."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._log.close()
        Process.live.discard(self)

    def stop(self, timeout: float = 30.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._log.close()
        Process.live.discard(self)
        return int(self.popen.returncode)


def stop_leftovers(kept: set[Process]) -> None:
    """Stop every running process not in `kept` (those a test started and left: a failed assertion skips
    its own clean-up)."""
    for process in list(Process.live - kept):
        process.stop(timeout=10.0)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def wait_until_ready(process: Process, url: str, timeout: float = 90.0) -> None:
    """Poll /readyz until it answers 200; fail with the process log if it dies or never gets there."""

    def ready() -> bool:
        with contextlib.suppress(OSError):
            return http_get(f"{url}/readyz")[0] == 200
        return False

    eventually(ready, f"{url}/readyz to answer 200", within=timeout, interval=0.3, alive=process.death)


@contextlib.contextmanager
def running_worker(env: WorkerEnv, log_path: Path, *, ready: bool = True) -> Iterator[Process]:
    process = Process(["worker"], env.environ(), log_path)
    try:
        if ready:
            wait_until_ready(process, env.url)
        yield process
    finally:
        if process.popen.poll() is None:
            process.stop()
