"""The worker's own HTTP pages carry the security headers and `Cache-Control: no-store`, errors included."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest

from streams.http_headers import SECURITY_HEADERS
from tests.support.processes import WorkerEnv, running_worker

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, Message]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.headers
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.headers


def test_every_worker_page_is_protected(make_worker_env: Callable[..., WorkerEnv], tmp_path: Path) -> None:
    env = make_worker_env()
    with running_worker(env, tmp_path / "worker.log") as worker:
        for path, status in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200), ("/no/such/page", 404)):
            got, headers = get(env.url + path)
            assert got == status, path
            for name, value in SECURITY_HEADERS.items():
                assert headers.get(name) == value, f"{path}: {name} is {headers.get(name)!r}"
            assert "no-store" in (headers.get("Cache-Control") or ""), f"{path}: Cache-Control"
        assert worker.popen.poll() is None
