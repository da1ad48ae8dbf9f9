"""Fixtures shared by every test: the real broker's address and unique names for topics and groups."""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MIMIC_DIR = SHARED / "data" / "mimic-iv-demo"

sys.path.insert(0, str(REPO / "deploy" / "kafka"))
from wait_ready import broker_count  # noqa: E402

from tests.support.processes import Process, stop_leftovers  # noqa: E402


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    """Processes a test left running are stopped after it, so its failure stays its own (a leftover
    worker would otherwise warn, or consume, in the tests after it). Processes of wider-scoped
    fixtures are set up first, so they are in `kept`."""
    kept = set(Process.live)
    yield
    stop_leftovers(kept)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """host:port of the real local broker (`make kafka-up`); a test that needs it fails loudly without it."""
    bootstrap = os.environ.get("LYTEWATCH_TEST_KAFKA", "127.0.0.1:9092")
    host, _, port = bootstrap.partition(":")
    try:
        broker_count(host, int(port), timeout=5.0)
    except OSError as exc:
        pytest.fail(f"no Kafka broker answers at {bootstrap} ({exc}); run `make kafka-up` first")
    return bootstrap


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Build topic/group names unique to this test run, so tests never see each other's messages."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:40].strip("-")
    token = uuid.uuid4().hex[:8]

    def make(prefix: str) -> str:
        return f"t-{prefix}-{slug}-{token}"

    return make
