"""The demo's child processes: check their ports first, start them, wait until each answers, stop them all."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Child", "DemoFailure", "port_problem", "start_child", "stop_children", "wait_answering"]

#: How long a child has to exit after SIGTERM before it is killed (a worker whose broker is gone may hang).
STOP_GRACE_S = 10.0


class DemoFailure(Exception):
    """The demo cannot go on; the message names the port or process and the likely cause."""


@dataclass
class Child:
    """One process the demo started: what it is, where it should answer and where it logs."""

    name: str
    setting: str
    host: str
    port: int
    ready_path: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def why_exited(self) -> str:
        """The child's exit, with the likely cause read from the end of its log."""
        code = self.exited()
        tail = _tail(self.log_path)
        if "address already in use" in tail.lower() or "errno 98" in tail.lower():
            return self._port_taken()
        last = tail.strip().splitlines()[-1] if tail.strip() else "no output"
        return f"the {self.name} exited with code {code}: {last[:300]} (log: {self.log_path})"

    def _port_taken(self) -> str:
        return (
            f"port {self.port} ({self.name}, {self.setting}) on {self.host} is already in use: most likely a "
            f"{self.name} left running by an earlier `lytewatch demo` or `make run` (find it with "
            f"`ss -ltnp 'sport = :{self.port}'`); stop it, or set {self.setting} to a free port"
        )


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def port_problem(child: Child) -> str | None:
    """Why the child could not listen on its port, or None when the port is free."""
    try:
        infos = socket.getaddrinfo(child.host, child.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"{child.setting}: host {child.host!r} cannot be resolved ({exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # The children set SO_REUSEADDR too, so a port in TIME_WAIT after a clean stop counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return child._port_taken()
            return f"port {child.port} ({child.name}, {child.setting}) on {child.host}: {exc.strerror}"
    return None


def start_child(child: Child, args: list[str], env: dict[str, str]) -> None:
    child.log_path.parent.mkdir(parents=True, exist_ok=True)
    with child.log_path.open("ab") as handle:
        child.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_answering(children: list[Child], *, within: float) -> None:
    """Return once every child answers 200 on its ready path; DemoFailure if one exits or time runs out."""
    deadline = time.monotonic() + within
    waiting = list(children)
    while waiting:
        for child in children:
            if child.exited() is not None:
                raise DemoFailure(child.why_exited())
        waiting = [child for child in waiting if not _answers(child.url + child.ready_path)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"{c.name} ({c.url}{c.ready_path}, log {c.log_path})" for c in waiting)
            raise DemoFailure(f"not answering after {within:.0f} s: {names}; is the broker healthy?")
        time.sleep(0.3)


def stop_children(children: list[Child]) -> None:
    """SIGTERM every child, wait, then SIGKILL whichever is still there: none outlives the demo."""
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
