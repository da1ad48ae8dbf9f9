"""The served OpenAPI document describes exactly the routes the app has, and the HTTP layer's refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from alerts.models import AlertEvent
from streams.web.alert_book import AlertBook
from streams.web.api import DashboardState, create_app
from streams.web.openapi import build_openapi

STATIC_PREFIX = "/static"


async def _refuse(key: bytes, value: bytes) -> None:
    raise AssertionError("no acknowledgement may be produced in these tests")


def _app_operations(token: str | None) -> set[tuple[str, str]]:
    app = create_app(DashboardState(book=AlertBook()), _refuse, token=token)
    operations = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(STATIC_PREFIX):
            continue
        operations.add((route.method, path))
    return operations


def _spec_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


@pytest.mark.parametrize("token", [None, "t0ken"])
def test_openapi_lists_exactly_the_routes_of_the_app(token: str | None) -> None:
    spec = build_openapi(token_required=token is not None)
    assert _spec_operations(spec) == _app_operations(token)


def test_openapi_declares_the_token_only_when_one_is_configured() -> None:
    open_spec = build_openapi(token_required=False)
    locked = build_openapi(token_required=True)
    assert "securitySchemes" not in open_spec["components"]
    assert "401" not in open_spec["paths"]["/api/alerts"]["get"]["responses"]
    assert locked["paths"]["/api/alerts"]["get"]["security"] == [{"bearer": []}, {"session": []}]
    # The stream takes the session cookie or a bearer header: no token in its URL any more (issue 10).
    assert locked["paths"]["/api/alerts/stream"]["get"]["security"] == [{"bearer": []}, {"session": []}]
    assert "query_token" not in locked["components"]["securitySchemes"]
    assert "security" not in locked["paths"]["/healthz"]["get"]


@pytest.fixture
def resolved_alert() -> Callable[[str], AlertEvent]:
    def make(alert_id: str) -> AlertEvent:
        return AlertEvent.model_validate(
            {
                "alert_id": alert_id,
                "revision": 2,
                "event": "resolved",
                "rule": "KMG_COMBINED",
                "rules_version": "2026.1",
                "severity": "moderate",
                "patient_id": "MRN-1",
                "summary": "K 3.1 and Mg 0.62",
                "recommendation": "Replete magnesium together with potassium.",
                "evidence": {},
                "reason": "normalized",
                "event_time": "2026-03-01T10:00:00+00:00",
            }
        )

    return make


@pytest_asyncio.fixture
async def client(resolved_alert: Callable[[str], AlertEvent]) -> AsyncIterator[TestClient[Any, Any]]:
    state = DashboardState(book=AlertBook(), caught_up=True)
    state.book.apply(resolved_alert("done"))
    async with TestClient(TestServer(create_app(state, _refuse, token="t0ken"))) as test_client:
        yield test_client


@pytest.mark.asyncio
async def test_refusals_of_the_http_layer(client: TestClient[Any, Any]) -> None:
    auth = {"Authorization": "Bearer t0ken"}
    assert (await client.get("/api/alerts")).status == 401
    assert (await client.get("/api/alerts", headers={"Authorization": "Bearer t0ken "})).status == 200
    assert (await client.get("/api/alerts?rule=NOPE", headers=auth)).status == 400
    assert (await client.get("/api/alerts/unknown", headers=auth)).status == 404
    assert (await client.post("/api/alerts/unknown/ack", json={"by": "a"}, headers=auth)).status == 404
    assert (await client.post("/api/alerts/done/ack", json={"by": "a"}, headers=auth)).status == 409
    assert (await client.post("/api/alerts/done/ack", json={"who": "a"}, headers=auth)).status == 422
    assert (await client.head("/api/alerts", headers=auth)).status == 405


@pytest.mark.asyncio
async def test_pages_carry_protective_headers(client: TestClient[Any, Any]) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "<title>" in await response.text()
