"""Fixtures shared by every test: the real broker's address and unique names for topics and groups."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MIMIC_DIR = SHARED / "data" / "mimic-iv-demo"

sys.path.insert(0, str(REPO / "deploy" / "kafka"))
from wait_ready import broker_count  # noqa: E402

from tests.support.kafka import delete_topics, topic_names  # noqa: E402
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
def kafka_bootstrap() -> Iterator[str]:
    """host:port of the real local broker (`make kafka-up`); a test that needs it fails loudly without it.

    The topics the session's tests made (`unique_name`'s `t-` names, workers' changelogs with them) are
    deleted at its end: a development broker otherwise collects thousands, and every client's metadata
    refresh reads them all (docs/BENCHMARKS.md, "Garbage collection").
    """
    bootstrap = os.environ.get("LYTEWATCH_TEST_KAFKA", "127.0.0.1:9092")
    host, _, port = bootstrap.partition(":")
    try:
        broker_count(host, int(port), timeout=5.0)
    except OSError as exc:
        pytest.fail(f"no Kafka broker answers at {bootstrap} ({exc}); run `make kafka-up` first")
    before = asyncio.run(topic_names(bootstrap))
    yield bootstrap
    try:
        made = {name for name in asyncio.run(topic_names(bootstrap)) - before if name.startswith("t-")}
        asyncio.run(delete_topics(bootstrap, made))
    except (KafkaError, OSError) as exc:
        # Leftover topics cost a development broker some metadata, not a test its result.
        print(f"\ntest topics not deleted: {type(exc).__name__}: {exc}", file=sys.stderr)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Build topic/group names unique to this test run, so tests never see each other's messages."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:40].strip("-")
    token = uuid.uuid4().hex[:8]

    def make(prefix: str) -> str:
        return f"t-{prefix}-{slug}-{token}"

    return make
