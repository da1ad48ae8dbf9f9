"""Fixtures shared by the dashboard's end-to-end tests: its topics on the real broker and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest_asyncio

from tests.e2e.dashboard_support import create_dashboard_topics


@pytest_asyncio.fixture
async def topics(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> tuple[str, str]:
    """(alerts topic, acks topic), unique to the test."""
    return await create_dashboard_topics(kafka_bootstrap, unique_name)


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client
