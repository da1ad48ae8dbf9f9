"""Security headers and `Cache-Control: no-store` on every response: pages, API, errors and the stream."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from alerts.notifier.routing import parse_routes
from streams.edges.mllp import Listener
from streams.edges.mllp import web_app as mllp_web_app
from streams.http_headers import SECURITY_HEADERS
from streams.notifier.process import web_app
from streams.notifier.service import NotifierService
from streams.settings import Settings
from streams.web.alert_book import AlertBook
from streams.web.api import DashboardState, create_app
from tests.unit.notifier.alert_factory import build_alert

pytestmark = pytest.mark.asyncio
AUTH = {"Authorization": "Bearer t0ken"}


async def _refuse(key: bytes, value: bytes) -> None:
    raise AssertionError("no acknowledgement may be produced in these tests")


def protected(response: ClientResponse, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{what}: {name} is {response.headers.get(name)!r}"
    assert "no-store" in response.headers.get("Cache-Control", ""), f"{what}: Cache-Control"


@pytest_asyncio.fixture
async def dashboard() -> AsyncIterator[TestClient[Any, Any]]:
    state = DashboardState(book=AlertBook(), caught_up=True)
    state.book.apply(build_alert(alert_id="x"))  # open, so an oversized ack gets as far as its body
    app = create_app(state, _refuse, token="t0ken")
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/", {}, None, 200),
        ("GET", "/static/app.js", {}, None, 200),
        ("GET", "/openapi.json", {}, None, 200),
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/metrics", {}, None, 200),
        ("GET", "/api/alerts", AUTH, None, 200),
        ("GET", "/api/alerts", {}, None, 401),
        ("GET", "/api/alerts?min_severity=loud", AUTH, None, 400),
        ("GET", "/api/alerts/unknown", AUTH, None, 404),
        ("GET", "/no/such/page", {}, None, 404),
        ("HEAD", "/api/alerts", AUTH, None, 405),
        ("POST", "/api/alerts/x/ack", AUTH, b"{" + b" " * 2_000_000 + b"}", 413),
    ],
)
async def test_every_dashboard_response_is_protected(
    dashboard: TestClient[Any, Any],
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    data = io.BytesIO(body) if body is not None else None
    if body is not None:
        headers = headers | {"Content-Type": "application/json"}
    response = await dashboard.request(method, path, headers=headers, data=data)
    assert response.status == status
    protected(response, f"{method} {path}")


async def test_the_event_stream_is_protected(dashboard: TestClient[Any, Any]) -> None:
    response = await dashboard.get("/api/alerts/stream", headers=AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    protected(response, "the stream")
    response.close()


async def test_every_notifier_response_is_protected(tmp_path: Any) -> None:
    hook = {"name": "w", "type": "webhook", "url": "http://127.0.0.1:9/"}
    routing = parse_routes({"receivers": [hook], "route": {"receivers": ["w"]}})
    service = NotifierService(Settings(), routing)
    async with TestClient(TestServer(web_app(service))) as client:
        for path, status in (("/metrics", 200), ("/healthz", 200), ("/readyz", 503), ("/nope", 404)):
            response = await client.get(path)
            assert response.status == status
            protected(response, f"notifier {path}")


async def test_every_mllp_listener_response_is_protected() -> None:
    async with TestClient(TestServer(mllp_web_app(Listener(Settings())))) as client:
        for path, status in (("/metrics", 200), ("/healthz", 200), ("/readyz", 503), ("/nope", 404)):
            response = await client.get(path)
            assert response.status == status
            protected(response, f"mllp {path}")
