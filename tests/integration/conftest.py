"""Fixtures for integration tests: a factory for a worker's environment on the real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker
from tests.support.processes import WorkerEnv


@pytest.fixture
def make_worker_env(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Callable[..., WorkerEnv]:
    """Build a WorkerEnv with unique topics, app id, data dir and web port for this test."""
    counter = iter(range(1000))

    def make(**extra: str) -> WorkerEnv:
        n = next(counter)
        return WorkerEnv(
            bootstrap=kafka_bootstrap,
            prefix=unique_name(f"w{n}"),
            data_dir=tmp_path / f"worker-{n}",
            extra=dict(extra),
        )

    return make


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test's own (free ports, data under tmp_path): the test starts it, this stops it."""
    broker = Broker(tmp_path / "kafka")
    try:
        yield broker
    finally:
        broker.run("stop")
