"""Helpers of the dashboard end-to-end tests: alert events, a running dashboard, an SSE reader."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from streams.settings import Settings, load_settings
from streams.web.dashboard import Dashboard
from tests.support.kafka import create_topics, produce
from tests.support.waiting import async_eventually

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def alert_event(
    alert_id: str,
    revision: int = 1,
    event: str = "fired",
    *,
    patient_id: str | None = None,
    severity: str = "moderate",
    rule: str = "KMG_COMBINED",
    unit: str = "4W",
    room: str = "12",
    bed: str = "A",
    k: float = 3.1,
    mg: float | None = 0.62,
    acknowledged_by: str | None = None,
    minutes: int = 0,
) -> dict[str, Any]:
    """An `alerts.electrolyte` event as the engine would publish it."""
    at = T0 + timedelta(minutes=minutes)
    evidence: dict[str, Any] = {
        "potassium": {
            "value": k,
            "unit": "mmol/L",
            "collected_at": at.isoformat(),
            "result_id": f"k-{alert_id}",
        },
        "magnesium": None,
        "diuretics": [
            {
                "order_id": f"o-{alert_id}",
                "ingredient": "furosemide",
                "class": "loop",
                "start": (T0 - timedelta(hours=2)).isoformat(),
                "end": None,
            }
        ],
        "refractory": False,
    }
    if mg is not None:
        evidence["magnesium"] = {
            "value": mg,
            "unit": "mmol/L",
            "as_sent": {"value": round(mg / 0.4114, 2), "unit": "mg/dL"},
            "collected_at": at.isoformat(),
            "result_id": f"m-{alert_id}",
        }
    return {
        "alert_id": alert_id,
        "revision": revision,
        "event": event,
        "rule": rule,
        "rules_version": "2026.1",
        "severity": severity,
        "patient_id": patient_id or f"MRN-{alert_id}",
        "encounter_id": "E1",
        "location": {"unit": unit, "room": room, "bed": bed},
        "summary": f"K {k} mmol/L and Mg {mg} mmol/L on furosemide (loop diuretic)",
        "recommendation": "Replete magnesium together with potassium: hypokalemia may not correct "
        "until magnesium is repleted.",
        "evidence": evidence,
        "reason": "normalized" if event == "resolved" else None,
        "acknowledged_by": acknowledged_by,
        "event_time": at.isoformat(),
        "emitted_at": datetime.now(UTC).isoformat(),
    }


async def produce_alerts(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    await produce(bootstrap, topic, [(e["patient_id"].encode(), orjson.dumps(e)) for e in events])


def dashboard_settings(
    bootstrap: str,
    alerts_topic: str,
    acks_topic: str,
    token: str | None = None,
    named_tokens: dict[str, str] | None = None,
) -> Settings:
    env = {
        "LYTEWATCH_BROKER": f"kafka://{bootstrap}",
        "LYTEWATCH_TOPIC_ALERTS": alerts_topic,
        "LYTEWATCH_TOPIC_ACKS": acks_topic,
    }
    if token:
        env["LYTEWATCH_DASHBOARD_TOKEN"] = token
    if named_tokens:
        env["LYTEWATCH_DASHBOARD_TOKENS"] = orjson.dumps(named_tokens).decode()
    if not token and not named_tokens:
        env["LYTEWATCH_DASHBOARD_AUTH"] = "none"
    return load_settings(env)


async def create_dashboard_topics(bootstrap: str, unique_name: Callable[[str], str]) -> tuple[str, str]:
    """A unique alerts topic (3 partitions, as alerts of several patients spread) and acks topic."""
    alerts_topic, acks_topic = unique_name("alerts"), unique_name("acks")
    await create_topics(bootstrap, [alerts_topic], partitions=3)
    await create_topics(bootstrap, [acks_topic], partitions=1)
    return alerts_topic, acks_topic


@asynccontextmanager
async def running_dashboard(
    bootstrap: str,
    alerts_topic: str,
    acks_topic: str,
    *,
    token: str | None = None,
    named_tokens: dict[str, str] | None = None,
    keepalive: float = 15.0,
) -> AsyncIterator[tuple[Dashboard, str]]:
    """Start a dashboard on a free port and wait until it has read the alerts topic; yield (it, its url)."""
    settings = dashboard_settings(bootstrap, alerts_topic, acks_topic, token, named_tokens)
    dashboard = Dashboard(settings, port=0, keepalive=keepalive)
    await dashboard.start()
    try:
        url = f"http://127.0.0.1:{dashboard.port}"

        async def ready() -> bool:
            return dashboard.state.caught_up

        await async_eventually(ready, "the dashboard to read the alerts topic", within=20)
        yield dashboard, url
    finally:
        await dashboard.stop()


@dataclass(frozen=True)
class SseEvent:
    event: str
    id: str | None
    data: Any


class SseReader:
    """Reads Server-Sent Events from an open response; comments are counted, not returned."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []
        self.retry: int | None = None

    async def next(self, within: float = 20.0) -> SseEvent:
        async with asyncio.timeout(within):
            fields: dict[str, str] = {}
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\n")
                if line == "":
                    if "data" in fields:
                        return SseEvent(
                            fields.get("event", "message"), fields.get("id"), orjson.loads(fields["data"])
                        )
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "retry":
                    self.retry = int(value)
                else:
                    fields[name] = value

    async def take(self, count: int, within: float = 20.0) -> list[SseEvent]:
        return [await self.next(within) for _ in range(count)]


@asynccontextmanager
async def sse_stream(
    session: aiohttp.ClientSession, url: str, *, headers: dict[str, str] | None = None
) -> AsyncIterator[SseReader]:
    async with session.get(url, headers=headers or {}, timeout=aiohttp.ClientTimeout(total=None)) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield SseReader(response)
