"""Fixtures of the end-to-end tests: dashboard topics, an HTTP session, Chromium, receivers, a notifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser

from alerts.notifier.routing import parse_routes
from streams.notifier.service import NotifierService
from streams.settings import Settings
from tests.e2e.browser_support import env_factory, launch_browser
from tests.e2e.dashboard_support import create_dashboard_topics
from tests.e2e.notifier_support import DASHBOARD, FAST_RETRY, Harness, MailBox, WebhookServer
from tests.support.kafka import create_topics
from tests.support.ports import free_port
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


# --- the notifier's receivers and harness ----------------------------------------------------------


@pytest_asyncio.fixture
async def webhook() -> AsyncIterator[WebhookServer]:
    server = WebhookServer()
    app = web.Application()
    app.router.add_post("/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    server.released.set()
    await runner.cleanup()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., tuple[MailBox, int]]]:
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> tuple[MailBox, int]:
        box, port = MailBox(), free_port()
        controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return box, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest_asyncio.fixture
async def start_notifier(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> AsyncIterator[Callable[[dict[str, Any]], Awaitable[Harness]]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(document: dict[str, Any]) -> Harness:
        settings = Settings(
            broker=f"kafka://{kafka_bootstrap}",
            partitions=2,
            topic_alerts=unique_name("alerts"),
            topic_notifier_log=unique_name("notify-log"),
            topic_notifier_deadletter=unique_name("notify-dlq"),
            dashboard_public_url=DASHBOARD,
        )
        await create_topics(kafka_bootstrap, [settings.topic_alerts], partitions=2)
        document = {"group_wait": "200ms", "retry": FAST_RETRY, **document}
        service = NotifierService(
            settings, parse_routes(document), group_id=unique_name("notifier"), start_from="earliest"
        )
        task = asyncio.create_task(service.run())
        tasks.append(task)
        ready = asyncio.create_task(service.ready.wait())
        await asyncio.wait([task, ready], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises what stopped the notifier
        assert ready.done(), "notifier not ready"
        return Harness(kafka_bootstrap, settings, service)

    yield start
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result
