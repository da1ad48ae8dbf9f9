"""Acknowledgement through the running dashboard onto the real acks topic, and the bearer-token check."""

from __future__ import annotations

from datetime import datetime

import aiohttp
import orjson
import pytest

from tests.e2e.dashboard_support import (
    alert_event,
    produce_alerts,
    running_dashboard,
    sse_stream,
)
from tests.support.kafka import consume

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.mark.asyncio
async def test_ack_produces_the_acknowledgement_keyed_by_patient(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    await produce_alerts(
        kafka_bootstrap,
        alerts_topic,
        [
            alert_event("open-1", patient_id="MRN0001"),
            alert_event("closed-1", patient_id="MRN0002"),
            alert_event("closed-1", 2, "resolved", patient_id="MRN0002"),
        ],
    )
    async with running_dashboard(kafka_bootstrap, alerts_topic, acks_topic) as (_, url):
        async with session.post(
            f"{url}/api/alerts/open-1/ack", json={"by": "  nurse.ann ", "note": "K rider hung"}
        ) as response:
            assert response.status == 202
            accepted = await response.json()
        assert accepted["status"] == "accepted"
        assert (accepted["alert_id"], accepted["by"], accepted["note"]) == (
            "open-1",
            "nurse.ann",
            "K rider hung",
        )

        async with session.post(f"{url}/api/alerts/nope/ack", json={"by": "x"}) as response:
            assert response.status == 404
        async with session.post(f"{url}/api/alerts/closed-1/ack", json={"by": "x"}) as response:
            assert response.status == 409
            assert (await response.json())["error"] == "resolved"
        for bad in [b"{}", b'{"by": "   "}', b'{"by": 5}', b"not json", b'{"by": "x", "extra": 1}', b"[]"]:
            async with session.post(
                f"{url}/api/alerts/open-1/ack", data=bad, headers={"Content-Type": "application/json"}
            ) as response:
                assert response.status == 422, bad
                assert (await response.json())["error"] == "invalid_body"

    records = await consume(kafka_bootstrap, acks_topic, expected=2, timeout=3.0)
    assert len(records) == 1, "only the valid acknowledgement reaches the topic"
    [record] = records
    assert record.key == b"MRN0001"
    ack = orjson.loads(record.value)
    assert set(ack) == {"alert_id", "patient_id", "by", "at", "note"}
    assert (ack["alert_id"], ack["patient_id"], ack["by"], ack["note"]) == (
        "open-1",
        "MRN0001",
        "nurse.ann",
        "K rider hung",
    )
    assert datetime.fromisoformat(ack["at"]).tzinfo is not None
    assert ack["at"] == accepted["at"]


@pytest.mark.asyncio
async def test_ack_without_note_sends_null_note(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    await produce_alerts(kafka_bootstrap, alerts_topic, [alert_event("open-2", patient_id="MRN0003")])
    async with (
        running_dashboard(kafka_bootstrap, alerts_topic, acks_topic) as (_, url),
        session.post(f"{url}/api/alerts/open-2/ack", json={"by": "dr.bo"}) as response,
    ):
        assert response.status == 202
    [record] = await consume(kafka_bootstrap, acks_topic, expected=1)
    assert orjson.loads(record.value)["note"] is None


@pytest.mark.asyncio
async def test_api_requires_the_token_when_one_is_configured(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    await produce_alerts(kafka_bootstrap, alerts_topic, [alert_event("t-1")])
    token = "s3cret-token"
    good = {"Authorization": f"Bearer {token}"}
    async with running_dashboard(kafka_bootstrap, alerts_topic, acks_topic, token=token) as (_, url):
        for method, path in [
            ("GET", "/api/alerts"),
            ("GET", "/api/alerts/t-1"),
            ("GET", "/api/alerts/stream"),
            ("POST", "/api/alerts/t-1/ack"),
        ]:
            for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}]:
                async with session.request(
                    method, f"{url}{path}", headers=headers, json={"by": "x"}
                ) as response:
                    assert response.status == 401, (method, path, headers)
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")

        async with session.get(f"{url}/api/alerts", headers=good) as response:
            assert response.status == 200
            assert [a["alert_id"] for a in (await response.json())["alerts"]] == ["t-1"]
        # No token in any URL (issue 10: it leaked into logs and history): the stream takes the header
        # (machines) or the session cookie (the page), never ?token=.
        for path in ["/api/alerts", "/api/alerts/stream"]:
            async with session.get(f"{url}{path}?token={token}") as response:
                assert response.status == 401, path
        async with sse_stream(session, f"{url}/api/alerts/stream", headers=good) as stream:
            assert (await stream.next()).event == "snapshot"
        # The page, its assets, health and the API description load without a token.
        for path in ["/", "/static/app.js", "/healthz", "/openapi.json"]:
            async with session.get(f"{url}{path}") as response:
                assert response.status == 200, path
    assert await consume(kafka_bootstrap, acks_topic, expected=1, timeout=2.0) == []
