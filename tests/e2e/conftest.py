"""Fixtures of the dashboard's end-to-end tests: topics on the real broker, an HTTP session, Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.sync_api import Browser

from tests.e2e.browser_support import env_factory, launch_browser
from tests.e2e.dashboard_support import create_dashboard_topics
from tests.support.processes import WorkerEnv


@pytest_asyncio.fixture
async def topics(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> tuple[str, str]:
    """(alerts topic, acks topic), unique to the test."""
    return await create_dashboard_topics(kafka_bootstrap, unique_name)


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium via Playwright (never a downloaded browser)."""
    yield from launch_browser()


@pytest.fixture
def make_env(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Callable[[], WorkerEnv]:
    """A LYTEWATCH_* environment with this test's own topics, app id and dashboard port and token."""
    return env_factory(kafka_bootstrap, unique_name, tmp_path)
