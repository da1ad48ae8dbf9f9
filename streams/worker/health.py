"""The worker's pages: /healthz (alive), /readyz (broker, recovery, agents, progress, store), /metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View
from faust.web.drivers.aiohttp import Web as AiohttpWeb
from prometheus_client import CONTENT_TYPE_LATEST

from streams.http_headers import harden
from streams.kafka import client_options
from streams.worker.runtime import Runtime
from streams.worker.watch import probe_store, watch_checks

BROKER_PROBE_INTERVAL_S = 2.0
STORE_PROBE_INTERVAL_S = 5.0


class BrokerProbe:
    """Remembers whether the broker answered a metadata request recently (checked in the background)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.error: str | None = "not checked yet"
        self.checked_at = 0.0

    async def check(self) -> None:
        options = client_options(self.runtime.settings)
        # Every security option, SASL credentials included: without them a SASL_SSL probe fails and
        # the worker was taken for dead (issue 10).
        client = AIOKafkaClient(**options, request_timeout_ms=3000)
        try:
            await asyncio.wait_for(client.bootstrap(), timeout=4.0)
            self.error = None
        except (KafkaError, OSError, TimeoutError) as exc:
            self.error = f"broker unreachable: {type(exc).__name__}: {exc}"
        finally:
            await client.close()
            self.checked_at = time.monotonic()


def readiness(runtime: Runtime, probe: BrokerProbe) -> tuple[bool, dict[str, Any]]:
    """(ready, body): each check names what is wrong when it fails."""
    checks: dict[str, Any] = {}
    checks["broker"] = {"ok": probe.error is None, "detail": probe.error or "reachable"}
    recovery = runtime.recovery
    recovered = recovery.completed.is_set()
    checks["state_recovery"] = {
        "ok": recovered,
        "detail": "finished" if recovered else "recovering the patient table from its changelog",
    }
    crashed = [agent.name for agent in runtime.app.agents.values() if agent.crashed]
    not_started = [agent.name for agent in runtime.app.agents.values() if not agent.started]
    checks["agents"] = {
        "ok": not crashed and not not_started,
        "detail": (
            f"crashed: {crashed}" if crashed else f"not started: {not_started}" if not_started else "running"
        ),
    }
    checks.update(watch_checks(runtime.watch, runtime.settings, time.monotonic()))
    # Not a failure, but what an operator must know: without co-partitioned inputs every event takes
    # the re-key hop, slower and without record-timestamp order across topics.
    path = runtime.engine_path
    checks["engine_path"] = {"ok": True, "one_hop": path.one_hop, "detail": path.detail}
    ready = all(check["ok"] for check in checks.values())
    return ready, {"status": "ready" if ready else "not ready", "checks": checks}


def register_pages(runtime: Runtime) -> None:
    app = runtime.app
    probe = BrokerProbe(runtime)
    driver = app.web
    if not isinstance(driver, AiohttpWeb):  # LYTEWATCH never sets another faust web driver
        raise TypeError(f"unexpected faust web driver {type(driver).__name__}")
    harden(driver.web_app)
    runtime.metrics.prime_topics(runtime.settings.input_topics.values())

    @app.timer(interval=BROKER_PROBE_INTERVAL_S, name="lytewatch.broker-probe")
    async def broker_probe() -> None:
        await probe.check()

    # A timer first fires one interval after the start: /readyz would say "not checked yet" for that long
    # while the worker is already consuming.
    @app.task
    async def first_broker_probe() -> None:
        await probe.check()

    if runtime.settings.store == "rocksdb://":

        @app.timer(interval=STORE_PROBE_INTERVAL_S, name="lytewatch.store-probe")
        async def store_probe() -> None:
            runtime.watch.store_error = await asyncio.to_thread(probe_store, runtime.settings.data_dir)

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "alive", "app": runtime.settings.app_id})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            ready, body = readiness(runtime, probe)
            return self.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
