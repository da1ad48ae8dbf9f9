"""The notifier's end-to-end test parts: real local HTTP and SMTP receivers, and a notifier harness."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from alerts.models import AlertEvent
from streams.notifier.service import NotifierService
from streams.settings import Settings
from tests.support.kafka import consume, produce
from tests.unit.notifier.alert_factory import build_alert

DASHBOARD = "http://dashboard.test"
FAST_RETRY = {"max_attempts": 4, "initial_backoff": "10ms", "max_backoff": "50ms"}


@dataclass
class Request:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class WebhookServer:
    """Captures POSTs; per path it can answer a scripted sequence of statuses (default 200)."""

    port: int = 0
    requests: list[Request] = field(default_factory=list)
    answered: list[Request] = field(default_factory=list)
    scripts: dict[str, deque[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    hold_after: int | None = None  # stop answering once this many requests got a 2xx
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *responses: int | tuple[int, dict[str, str]]) -> None:
        self.scripts[path] = deque(r if isinstance(r, tuple) else (r, {}) for r in responses)

    def on(self, path: str) -> list[dict[str, Any]]:
        return [r.body for r in self.answered if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        captured = Request(request.path, await request.json(), dict(request.headers))
        self.requests.append(captured)
        if self.hold_after is not None and len(self.answered) >= self.hold_after:
            # Never answered: the notifier is killed while waiting, so it never learns of this one.
            await self.released.wait()
            return web.Response(status=503)
        script = self.scripts.get(request.path)
        status, headers = script.popleft() if script else (200, {})
        if 200 <= status < 300:
            self.answered.append(captured)
        return web.json_response({"status": "ok" if status < 300 else "no"}, status=status, headers=headers)


class MailBox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@dataclass
class Harness:
    bootstrap: str
    settings: Settings
    service: NotifierService

    async def send(self, *alerts: AlertEvent) -> None:
        messages = [(a.patient_id.encode(), a.model_dump_json().encode()) for a in alerts]
        await produce(self.bootstrap, self.settings.topic_alerts, messages)

    async def topic(self, name: str, expected: int) -> list[dict[str, Any]]:
        records = await consume(self.bootstrap, name, expected=expected, timeout=30)
        return [json.loads(r.value) for r in records]


def now_alert(alert_id: str, revision: int = 1, offset: float = 0.0, **fields: Any) -> AlertEvent:
    at = datetime.now(UTC) + timedelta(seconds=offset)
    fields.setdefault("event", "fired")
    return build_alert(alert_id=alert_id, revision=revision, emitted_at=at.isoformat(), **fields)


def hook(name: str, server: WebhookServer, path: str | None = None) -> dict[str, str]:
    return {"name": name, "type": "webhook", "url": server.url(path or f"/{name}")}


def kinds(bodies: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [(b["alert_id"], b["revision"], b["notification"]) for b in bodies]
