"""The running dashboard against the real broker: open alerts, history, the SSE stream and its resumption."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.e2e.dashboard_support import (
    alert_event,
    produce_alerts,
    running_dashboard,
    sse_stream,
)
from tests.support.waiting import async_eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def _get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.mark.asyncio
async def test_snapshot_then_live_transitions(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    await produce_alerts(
        kafka_bootstrap,
        alerts_topic,
        [
            alert_event("a-moderate", severity="moderate", bed="A"),
            alert_event("b-critical", severity="critical", k=2.4, bed="B"),
            alert_event("c-gone", severity="high"),
            alert_event("c-gone", 2, "resolved", severity="high"),
        ],
    )
    async with running_dashboard(kafka_bootstrap, alerts_topic, acks_topic) as (_, url):
        async with sse_stream(session, f"{url}/api/alerts/stream") as stream:
            snapshot = await stream.next()
            assert snapshot.event == "snapshot"
            assert stream.retry == 3000
            # Rebuilt from the topic: the resolved alert is gone, the critical one comes first.
            assert [a["alert_id"] for a in snapshot.data["alerts"]] == ["b-critical", "a-moderate"]
            assert snapshot.id == str(snapshot.data["seq"])

            await produce_alerts(
                kafka_bootstrap,
                alerts_topic,
                [
                    alert_event("a-moderate", 2, "escalated", severity="critical", mg=0.45),
                    alert_event("b-critical", 2, "resolved", severity="critical"),
                ],
            )
            # The two patients' events travel on different partitions, so either may come first.
            by_alert = {e.data["alert"]["alert_id"]: e for e in await stream.take(2)}
        escalated, resolved = by_alert["a-moderate"], by_alert["b-critical"]
        assert (escalated.event, escalated.data["event"]) == ("transition", "escalated")
        assert escalated.data["alert"]["severity"] == "critical"
        assert escalated.data["in_view"] is True
        assert escalated.data["alert"]["evidence"]["magnesium"]["value"] == 0.45
        assert resolved.data["event"] == "resolved"
        assert resolved.data["in_view"] is False
        assert sorted([int(escalated.id or 0), int(resolved.id or 0)]) == [
            int(snapshot.id or 0) + 1,
            int(snapshot.id or 0) + 2,
        ]

        listing = await _get(session, f"{url}/api/alerts")
        assert [a["alert_id"] for a in listing["alerts"]] == ["a-moderate"]
        assert listing["seq"] == int(snapshot.id or 0) + 2

        detail = await _get(session, f"{url}/api/alerts/b-critical")
        assert detail["alert"]["open"] is False
        assert [(h["event"]["event"], h["event"]["revision"]) for h in detail["history"]] == [
            ("fired", 1),
            ("resolved", 2),
        ]
        async with session.get(f"{url}/api/alerts/no-such-alert") as response:
            assert response.status == 404


@pytest.mark.asyncio
async def test_reconnect_with_last_event_id_replays_exactly_the_missed_transitions(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    await produce_alerts(kafka_bootstrap, alerts_topic, [alert_event("x1")])
    async with running_dashboard(kafka_bootstrap, alerts_topic, acks_topic) as (dashboard, url):
        async with sse_stream(session, f"{url}/api/alerts/stream") as stream:
            await stream.next()  # snapshot
            await produce_alerts(kafka_bootstrap, alerts_topic, [alert_event("x2", severity="high")])
            seen = await stream.next()
        last_id = int(seen.id or 0)

        # While the client is away: three transitions and a re-delivered duplicate of one of them.
        missed = [
            alert_event("x1", 2, "updated", k=3.2),
            alert_event("x3", severity="critical", k=2.3),
            alert_event("x2", 2, "acknowledged", severity="high", acknowledged_by="nurse.ann"),
        ]
        await produce_alerts(kafka_bootstrap, alerts_topic, [*missed, missed[1]])

        async def all_applied() -> bool:
            return dashboard.state.book.last_seq == last_id + 3

        await async_eventually(all_applied, "the missed transitions to reach the dashboard", within=20)

        async with sse_stream(
            session, f"{url}/api/alerts/stream", headers={"Last-Event-ID": str(last_id)}
        ) as again:
            replayed = await again.take(3)
            assert [e.event for e in replayed] == ["transition"] * 3
            assert [int(e.id or 0) for e in replayed] == [last_id + 1, last_id + 2, last_id + 3]
            assert {(e.data["alert"]["alert_id"], e.data["event"]) for e in replayed} == {
                ("x1", "updated"),
                ("x3", "fired"),
                ("x2", "acknowledged"),
            }
            [ack] = [e for e in replayed if e.data["event"] == "acknowledged"]
            assert ack.data["alert"]["acknowledged_by"] == "nurse.ann"
            # Then it goes on live, with nothing repeated in between.
            await produce_alerts(kafka_bootstrap, alerts_topic, [alert_event("x4")])
            live = await again.next()
            assert (live.data["alert"]["alert_id"], int(live.id or 0)) == ("x4", last_id + 4)

        # The same resumption through the query parameter (a page that had to recreate its EventSource).
        async with sse_stream(session, f"{url}/api/alerts/stream?last_event_id={last_id + 3}") as by_query:
            resumed = await by_query.next()
            assert (resumed.event, resumed.data["alert"]["alert_id"]) == ("transition", "x4")


@pytest.mark.asyncio
async def test_an_id_from_an_earlier_run_gets_a_fresh_snapshot_after_restart(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    await produce_alerts(
        kafka_bootstrap, alerts_topic, [alert_event("r1"), alert_event("r2", severity="high")]
    )
    async with running_dashboard(kafka_bootstrap, alerts_topic, acks_topic) as (_, url):
        first = await _get(session, f"{url}/api/alerts")
    old_id = {"Last-Event-ID": str(first["seq"])}
    async with (
        running_dashboard(kafka_bootstrap, alerts_topic, acks_topic) as (_, url),
        sse_stream(session, f"{url}/api/alerts/stream", headers=old_id) as stream,
    ):
        snapshot = await stream.next()
    assert snapshot.event == "snapshot"
    assert [a["alert_id"] for a in snapshot.data["alerts"]] == ["r2", "r1"]
    assert snapshot.data["seq"] > first["seq"]


@pytest.mark.asyncio
async def test_filtered_stream_shows_only_matching_alerts_and_says_when_one_leaves(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    await produce_alerts(
        kafka_bootstrap,
        alerts_topic,
        [alert_event("f1", severity="critical", k=2.4), alert_event("f2", severity="moderate", unit="5E")],
    )
    async with running_dashboard(kafka_bootstrap, alerts_topic, acks_topic) as (_, url):
        async with sse_stream(session, f"{url}/api/alerts/stream?min_severity=critical&unit=4w") as stream:
            snapshot = await stream.next()
            assert [a["alert_id"] for a in snapshot.data["alerts"]] == ["f1"]
            await produce_alerts(
                kafka_bootstrap,
                alerts_topic,
                [
                    alert_event("f2", 2, "escalated", severity="critical", unit="5E"),
                    alert_event("f1", 2, "updated", severity="high", k=2.6),
                ],
            )
            left = await stream.next()
        assert (left.data["alert"]["alert_id"], left.data["in_view"]) == ("f1", False)

        async with session.get(f"{url}/api/alerts?min_severity=urgent") as response:
            assert response.status == 400
            assert "min_severity" in (await response.json())["detail"]
        listing = await _get(session, f"{url}/api/alerts?rule=KMG_COMBINED&unit=5E")
        assert [a["alert_id"] for a in listing["alerts"]] == ["f2"]


@pytest.mark.asyncio
async def test_idle_stream_sends_keep_alive_comments(
    kafka_bootstrap: str, topics: tuple[str, str], session: aiohttp.ClientSession
) -> None:
    alerts_topic, acks_topic = topics
    async with (
        running_dashboard(kafka_bootstrap, alerts_topic, acks_topic, keepalive=0.2) as (_, url),
        session.get(f"{url}/api/alerts/stream") as response,
    ):
        body = b""
        while b": keep-alive" not in body:
            body += await response.content.readany()
    assert b"event: snapshot" in body
