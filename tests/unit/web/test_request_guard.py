"""The dashboard refuses other Host names (DNS rebinding), cross-site changes (CSRF) and hostile acks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from streams.web.alert_book import AlertBook
from streams.web.api import DashboardState, create_app
from tests.unit.notifier.alert_factory import build_alert

pytestmark = pytest.mark.asyncio
ACK = b'{"by": "rn7", "note": null}'


class Acks:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append(value)


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[TestClient[Any, Any], Acks]]:
    state = DashboardState(book=AlertBook(), caught_up=True)
    state.book.apply(build_alert(alert_id="kmg-1"))
    acks = Acks()
    app = create_app(state, acks.send, public_url="https://lytewatch.hospital.example")
    async with TestClient(TestServer(app)) as client:
        yield client, acks


async def test_another_host_name_is_refused(served: tuple[TestClient[Any, Any], Acks]) -> None:
    client, _ = served
    port = client.port
    assert (await client.get("/api/alerts")).status == 200  # 127.0.0.1:<port>, on loopback
    assert (await client.get("/api/alerts", headers={"Host": f"localhost:{port}"})).status == 200
    assert (await client.get("/", headers={"Host": "lytewatch.hospital.example"})).status == 200
    rebound = await client.get("/api/alerts", headers={"Host": f"evil.example:{port}"})
    assert rebound.status == 421
    assert (await rebound.json())["error"] == "unknown_host"


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        # The cross-site HTML form: enctype="text/plain", from another origin.
        ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403, "cross_origin"),
        # fetch(..., {mode: "no-cors"}) from another origin: Origin set, no JSON allowed.
        ({"Origin": "http://evil.example", "Content-Type": "text/plain;charset=UTF-8"}, 403, "cross_origin"),
        ({"Origin": "null", "Content-Type": "application/json"}, 403, "cross_origin"),
        ({"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}, 403, "cross_origin"),
        # An old browser that sends no Origin still cannot send JSON cross-site without CORS.
        ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
    ],
)
async def test_cross_site_acknowledgements_are_refused(
    served: tuple[TestClient[Any, Any], Acks], headers: dict[str, str], status: int, error: str
) -> None:
    client, acks = served
    response = await client.post("/api/alerts/kmg-1/ack", data=ACK, headers=headers)
    assert response.status == status
    assert (await response.json())["error"] == error
    assert acks.sent == []


async def test_same_site_and_machine_clients_may_acknowledge(
    served: tuple[TestClient[Any, Any], Acks],
) -> None:
    client, acks = served
    json = {"Content-Type": "application/json"}
    page = {"Origin": f"http://127.0.0.1:{client.port}", "Sec-Fetch-Site": "same-origin"}
    assert (await client.post("/api/alerts/kmg-1/ack", data=ACK, headers=json | page)).status == 202
    public = {"Origin": "https://lytewatch.hospital.example", "Host": "lytewatch.hospital.example"}
    assert (await client.post("/api/alerts/kmg-1/ack", data=ACK, headers=json | public)).status == 202
    assert (await client.post("/api/alerts/kmg-1/ack", data=ACK, headers=json)).status == 202  # curl
    assert len(acks.sent) == 3


@pytest.mark.parametrize(
    "body",
    [
        b'{"by": "rn7\\r\\nBcc: x@example.org", "note": null}',  # the e-mail body injection of issue 10
        b'{"by": "Dr \\u202eoW", "note": null}',
        b'{"by": "rn7", "note": "seen \\u2066 ok"}',
    ],
)
async def test_an_acknowledgement_ingest_would_dead_letter_is_refused_at_once(
    served: tuple[TestClient[Any, Any], Acks], body: bytes
) -> None:
    client, acks = served
    response = await client.post(
        "/api/alerts/kmg-1/ack", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 422
    assert "control or bidi character" in (await response.text())
    assert acks.sent == []
