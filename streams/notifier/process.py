"""The notifier process: reads alert events, pages receivers as the routing file says, never twice."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Literal

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from alerts.notifier.routing import RoutesFileError, load_routes
from streams.broker_access import BrokerAccessError, check_broker_access
from streams.http_headers import harden
from streams.logs import configure_logging
from streams.notifier.service import NotifierService
from streams.settings import Settings, load_settings


def web_app(service: NotifierService) -> web.Application:
    """/metrics, /healthz and /readyz of the notifier."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        ready = service.ready.is_set()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    app = web.Application()
    harden(app)
    app.router.add_get("/metrics", make_aiohttp_handler(service.metrics.registry))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def _start_web(service: NotifierService, settings: Settings) -> web.AppRunner:
    app = web_app(service)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.notifier_web_port).start()
    return runner


async def run_notifier(
    settings: Settings, routes_path: Path, *, start_from: Literal["earliest", "latest"] = "latest"
) -> None:
    """The `lytewatch notifier` process: serve /metrics, /healthz, /readyz and notify until cancelled."""
    routing = load_routes(routes_path)
    await check_broker_access(settings)  # wrong TLS/SASL settings: BrokerAccessError now, not retries
    service = NotifierService(settings, routing, start_from=start_from)
    runner = await _start_web(service, settings)
    try:
        await service.run()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.notifier.process", description=__doc__)
    parser.add_argument("--routes", type=Path, help="routing YAML (default: LYTEWATCH_NOTIFIER_ROUTES_FILE)")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="a new consumer group starts at the oldest alert event instead of the newest",
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    routes = args.routes or settings.notifier_routes_file
    if routes is None:
        parser.error("no routing file: pass --routes or set LYTEWATCH_NOTIFIER_ROUTES_FILE")

    try:
        load_routes(routes)  # fail before connecting to anything, with the bad key named
    except RoutesFileError as exc:
        print(f"lytewatch notifier: {exc}", file=sys.stderr)
        return 2

    async def _main() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await run_notifier(settings, routes, start_from="earliest" if args.from_beginning else "latest")

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        try:
            asyncio.run(_main())
        except BrokerAccessError as exc:
            print(f"lytewatch notifier: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
