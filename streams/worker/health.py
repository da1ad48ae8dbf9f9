"""The worker's HTTP pages: /healthz (alive), /readyz (broker, recovery, agents) and /metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from streams.kafka import client_options
from streams.worker.runtime import Runtime

BROKER_PROBE_INTERVAL_S = 2.0


class BrokerProbe:
    """Remembers whether the broker answered a metadata request recently (checked in the background)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.error: str | None = "not checked yet"
        self.checked_at = 0.0

    async def check(self) -> None:
        options = client_options(self.rt.settings)
        client = AIOKafkaClient(
            **{k: v for k, v in options.items() if not k.startswith("sasl_plain")},
            request_timeout_ms=3000,
        )
        try:
            await asyncio.wait_for(client.bootstrap(), timeout=4.0)
            self.error = None
        except (KafkaError, OSError, TimeoutError) as exc:
            self.error = f"broker unreachable: {type(exc).__name__}: {exc}"
        finally:
            await client.close()
            self.checked_at = time.monotonic()


def readiness(rt: Runtime, probe: BrokerProbe) -> tuple[bool, dict[str, Any]]:
    """(ready, body): each check names what is wrong when it fails."""
    checks: dict[str, Any] = {}
    checks["broker"] = {"ok": probe.error is None, "detail": probe.error or "reachable"}
    recovery = rt.recovery
    recovered = recovery.completed.is_set()
    checks["state_recovery"] = {
        "ok": recovered,
        "detail": "finished" if recovered else "recovering the patient table from its changelog",
    }
    crashed = [agent.name for agent in rt.app.agents.values() if agent.crashed]
    not_started = [agent.name for agent in rt.app.agents.values() if not agent.started]
    checks["agents"] = {
        "ok": not crashed and not not_started,
        "detail": (
            f"crashed: {crashed}" if crashed else f"not started: {not_started}" if not_started else "running"
        ),
    }
    ready = all(check["ok"] for check in checks.values())
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}


def register_pages(rt: Runtime) -> None:
    app = rt.app
    probe = BrokerProbe(rt)
    rt.metrics.prime_topics(rt.settings.input_topics.values())

    @app.timer(interval=BROKER_PROBE_INTERVAL_S, name="lytewatch.broker-probe")
    async def broker_probe() -> None:
        await probe.check()

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "alive", "app": rt.settings.app_id})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            ready, body = readiness(rt, probe)
            return self.json(body, status=200 if ready else 503)

    # faust's Prometheus sensor serves /metrics from our registry: its metrics and ours on one page.
    rt.metrics.attach_faust(app)
