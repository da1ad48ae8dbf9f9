"""The dashboard's HTTP side: JSON API, Server-Sent Events, the page and OpenAPI (sign-in: access.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import ValidationError

from alerts.models import RuleId, Severity
from streams.http_headers import harden
from streams.metrics import BurdenCollector
from streams.web.access import ACCESS_KEY, Access, access_control, caller_of
from streams.web.alert_book import AlertBook, AlertFilter, AlertView, Transition
from streams.web.clinical_api import ClinicalViews, add_clinical_routes
from streams.web.openapi import AckRequest, build_openapi
from streams.web.request_guard import request_guard
from streams.web.signin import add_signin_routes

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

# (key, value) -> awaitable that returns once the broker has the message; raises on failure.
AckSender = Callable[[bytes, bytes], Awaitable[None]]


class AckUnavailableError(Exception):
    """The acknowledgement could not be handed to the broker."""


class DashboardMetrics:
    """Prometheus series of one dashboard (its own registry, so several can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.alert_events = Counter(
            "lytewatch_dashboard_alert_events",
            "Alert events read from the alerts topic, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.open_alerts = Gauge("lytewatch_dashboard_open_alerts", "Open alerts", registry=self.registry)
        self.sse_clients = Gauge(
            "lytewatch_dashboard_sse_clients", "Connected event-stream clients", registry=self.registry
        )
        self.acks = Counter(
            "lytewatch_dashboard_acks",
            "Acknowledgements posted, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.caught_up = Gauge(
            "lytewatch_dashboard_caught_up",
            "1 once the alerts topic has been read to its end since start-up",
            registry=self.registry,
        )


class Subscriber:
    """One event-stream client's queue; a client that falls too far behind is dropped and must resume."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Transition | None] = asyncio.Queue(maxsize=maxsize)
        self.dropped = False

    def offer(self, item: Transition | None) -> None:
        """Queue a transition (None: the end marker); drop the client instead of blocking the consumer."""
        if self.dropped:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped = True
            # Make room for the end marker so the client's handler wakes up and closes; the browser
            # reconnects with Last-Event-ID and is replayed what it missed.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


@dataclass
class DashboardState:
    """What the HTTP handlers share with the Kafka consumer."""

    book: AlertBook
    metrics: DashboardMetrics = field(default_factory=DashboardMetrics)
    caught_up: bool = False
    subscribers: set[Subscriber] = field(default_factory=set)
    subscriber_queue_size: int = 1000

    def apply(self, transition: Transition) -> None:
        """Hand an applied transition to every connected stream."""
        self.metrics.open_alerts.set(len(self.book))
        for subscriber in list(self.subscribers):
            subscriber.offer(transition)

    def close_streams(self) -> None:
        """End every open event stream (at shutdown)."""
        for subscriber in list(self.subscribers):
            subscriber.offer(None)


STATE_KEY = web.AppKey("state", DashboardState)
SEND_ACK_KEY: web.AppKey[AckSender] = web.AppKey("send_ack")
KEEPALIVE_KEY = web.AppKey("keepalive", float)


def _error(status: int, code: str, detail: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "detail": detail, **extra}, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _view_json(view: AlertView) -> Any:
    return view.model_dump(mode="json")


def _parse_filter(request: web.Request) -> AlertFilter:
    """Read the filters; raises a 400 naming the bad parameter."""
    query = request.query
    try:
        severity = Severity(query["min_severity"]) if "min_severity" in query else None
    except ValueError:
        raise web.HTTPBadRequest(
            text=_dumps({"error": "bad_parameter", "detail": "min_severity: unknown severity"}),
            content_type="application/json",
        ) from None
    try:
        rule = RuleId(query["rule"]) if "rule" in query else None
    except ValueError:
        raise web.HTTPBadRequest(
            text=_dumps({"error": "bad_parameter", "detail": "rule: unknown rule id"}),
            content_type="application/json",
        ) from None
    unit = query.get("unit") or None
    return AlertFilter(unit=unit, min_severity=severity, rule=rule)


async def list_alerts(request: web.Request) -> web.Response:
    """GET /api/alerts: the open alerts, filtered by unit, min_severity and rule."""
    state = request.app[STATE_KEY]
    flt = _parse_filter(request)
    alerts = [_view_json(v) for v in state.book.open_alerts(flt)]
    return _json({"seq": state.book.last_seq, "caught_up": state.caught_up, "alerts": alerts})


async def get_alert(request: web.Request) -> web.Response:
    """GET /api/alerts/{id}: one alert with its history."""
    state = request.app[STATE_KEY]
    record = state.book.get(request.match_info["alert_id"])
    if record is None:
        return _error(404, "not_found", "no such alert")
    history = [{"seq": h.seq, "event": h.event.model_dump(mode="json")} for h in record.history]
    detail = {"alert": _view_json(record.view), "history": history}
    return _json(detail | {"history_omitted": record.history_omitted})


async def acknowledge(request: web.Request) -> web.Response:
    """POST /api/alerts/{id}/ack: produce the acknowledgement to the acks topic."""
    state = request.app[STATE_KEY]
    caller = caller_of(request)
    if caller is not None and not caller.can_acknowledge:
        return _error(403, "forbidden", "your role (viewer) may see alerts but not acknowledge them")
    record = state.book.get(request.match_info["alert_id"])
    if record is None:
        if not state.caught_up:
            response = _error(503, "not_ready", "still reading the alerts topic; try again shortly")
            response.headers["Retry-After"] = "2"
            return response
        return _error(404, "not_found", "no such alert")
    try:
        body = AckRequest.model_validate_json(await request.read())
    except ValidationError as exc:
        problems = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return _error(422, "invalid_body", 'expected {"by": string, "note": string|null}', problems=problems)
    # A verified identity (signed-in person, named token), never a typed name, says who acknowledged.
    by = caller.acknowledged_by(body.by) if caller is not None else body.by
    if by is None:
        problems = [{"loc": ["by"], "msg": "required: who acknowledges (no signed-in identity)"}]
        return _error(422, "invalid_body", 'expected {"by": string, "note": string|null}', problems=problems)
    if not record.view.open:
        return _error(409, "resolved", "the alert is resolved and can no longer be acknowledged")
    at = datetime.now(UTC)
    ack = {
        "alert_id": record.view.alert_id,
        "patient_id": record.view.patient_id,
        "by": by,
        "at": at.isoformat(),
        "note": body.note,
    }
    try:
        await request.app[SEND_ACK_KEY](record.view.patient_id.encode(), orjson.dumps(ack))
    except AckUnavailableError:
        state.metrics.acks.labels("failed").inc()
        response = _error(503, "broker_unavailable", "the acknowledgement could not be recorded; try again")
        response.headers["Retry-After"] = "5"
        return response
    state.metrics.acks.labels("produced").inc()
    log.info("acknowledgement produced for alert %s", record.view.alert_id)
    return _json({"status": "accepted", **{k: ack[k] for k in ("alert_id", "by", "at", "note")}}, status=202)


def _sse(event: str, seq: int, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\nid: %d\ndata: " % seq + orjson.dumps(data) + b"\n\n"


def _transition_event(transition: Transition, flt: AlertFilter) -> bytes:
    data = {
        "seq": transition.seq,
        "event": transition.event.event.value,
        "in_view": transition.in_view(flt),
        "alert": _view_json(transition.view),
    }
    return _sse("transition", transition.seq, data)


def _resume_point(request: web.Request) -> int | None:
    # A new EventSource object cannot set Last-Event-ID, so the page passes it in the query.
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


async def stream_alerts(request: web.Request) -> web.StreamResponse:
    """GET /api/alerts/stream: Server-Sent Events, a snapshot (or a Last-Event-ID replay), then live."""
    state = request.app[STATE_KEY]
    flt = _parse_filter(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    # Subscribing and reading the book happen with no await in between, so no transition can fall
    # between the snapshot (or replay) and the live queue, and none can be in both.
    subscriber = Subscriber(state.subscriber_queue_size)
    state.subscribers.add(subscriber)
    state.metrics.sse_clients.inc()
    last = _resume_point(request)
    replay = state.book.transitions_after(last, flt) if last is not None else None
    first: list[bytes] = [b"retry: 3000\n\n"]
    if replay is None:
        snapshot = {
            "seq": state.book.last_seq,
            "caught_up": state.caught_up,
            "alerts": [_view_json(v) for v in state.book.open_alerts(flt)],
        }
        first.append(_sse("snapshot", state.book.last_seq, snapshot))
    else:
        first.extend(_transition_event(t, flt) for t in replay)
    keepalive = request.app[KEEPALIVE_KEY]
    try:
        await response.write(b"".join(first))
        while True:
            try:
                item = await asyncio.wait_for(subscriber.queue.get(), timeout=keepalive)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if item is None:
                break
            if item.relevant(flt):
                await response.write(_transition_event(item, flt))
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        state.subscribers.discard(subscriber)
        state.metrics.sse_clients.dec()
    return response


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: alive."""
    state = request.app[STATE_KEY]
    return _json({"status": "ok", "caught_up": state.caught_up, "open_alerts": len(state.book)})


async def readyz(request: web.Request) -> web.Response:
    """GET /readyz: 200 once the alerts topic has been read to its end."""
    state = request.app[STATE_KEY]
    if not state.caught_up:
        return _json({"status": "starting", "caught_up": False}, status=503)
    return _json({"status": "ready", "caught_up": True})


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the dashboard's Prometheus metrics."""
    registry = request.app[STATE_KEY].metrics.registry
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def index(request: web.Request) -> web.FileResponse:
    """GET /: the page."""
    response = web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
    return response


def create_app(
    state: DashboardState,
    send_ack: AckSender,
    *,
    access: Access | None = None,
    token: str | None = None,
    named_tokens: Mapping[str, str] | None = None,
    keepalive: float = 15.0,
    views: ClinicalViews | None = None,
    public_url: str = "http://127.0.0.1:8080",
) -> web.Application:
    """The aiohttp application; `send_ack(key, value)` must raise AckUnavailableError on failure.

    Requests for another Host, and state changes from another site, are refused (request_guard); who
    may do what is `access` (default: the bearer tokens given, else no authentication).
    """
    access = Access.with_tokens(token, named_tokens) if access is None else access
    app = web.Application(middlewares=[request_guard(public_url, _error), access_control(_error)])
    harden(app)
    views = ClinicalViews() if views is None else views

    def burden_figures() -> list[dict[str, Any]]:
        return [w.model_dump(mode="json") for w in views.burden(state.book, datetime.now(UTC)).windows]

    state.metrics.registry.register(BurdenCollector(burden_figures))
    app[STATE_KEY] = state
    app[SEND_ACK_KEY] = send_ack
    app[ACCESS_KEY] = access
    app[KEEPALIVE_KEY] = keepalive
    spec = build_openapi(token_required=access.mode != "none", oidc=access.oidc is not None)

    async def openapi(request: web.Request) -> web.Response:
        return _json(spec)

    async def on_shutdown(app: web.Application) -> None:
        state.close_streams()

    async def on_cleanup(app: web.Application) -> None:
        if access.oidc is not None:
            await access.oidc.close()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    router = app.router
    router.add_get("/", index, allow_head=False)
    router.add_static("/static/", STATIC_DIR, name="static")
    router.add_get("/openapi.json", openapi, allow_head=False)
    router.add_get("/healthz", healthz, allow_head=False)
    router.add_get("/readyz", readyz, allow_head=False)
    router.add_get("/metrics", metrics, allow_head=False)
    router.add_get("/api/alerts", list_alerts, allow_head=False)
    # Before the {alert_id} route, which would otherwise capture "stream".
    router.add_get("/api/alerts/stream", stream_alerts, allow_head=False)
    router.add_get("/api/alerts/{alert_id}", get_alert, allow_head=False)
    router.add_post("/api/alerts/{alert_id}/ack", acknowledge)
    add_clinical_routes(app, views, state.book)
    add_signin_routes(app, oidc=access.oidc is not None)
    return app
