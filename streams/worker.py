"""`lytewatch worker`: wait for the broker, make sure the topics exist, then run the faust worker."""

from __future__ import annotations

import asyncio
import logging
import time

import uvloop
from aiokafka.errors import KafkaError

from streams.logs import configure_logging
from streams.settings import Settings
from streams.topics import TopicSpec, ensure_topics

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


async def wait_for_broker(
    settings: Settings, *, give_up_after: float | None = None
) -> list[tuple[TopicSpec, str]]:
    """Retry until the broker answers and every topic exists (returns what was created or found).

    A worker may start before its broker: it waits here, saying so once, instead of crashing.
    """
    delay = 0.5
    started = time.monotonic()
    announced = False
    while True:
        try:
            report = await ensure_topics(settings)
        except (KafkaError, OSError) as exc:
            if give_up_after is not None and time.monotonic() - started > give_up_after:
                raise
            if not announced:
                log.warning(
                    "broker %s not reachable (%s); waiting for it",
                    settings.bootstrap_servers,
                    type(exc).__name__,
                )
                announced = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            continue
        created = [spec.name for spec, outcome in report if outcome == "created"]
        if created:
            log.info("created topics: %s", ", ".join(created))
        log.info("broker %s reachable; topics ready", settings.bootstrap_servers)
        return report


def run_worker(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM."""
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(wait_for_broker(settings))
    from faust import Worker

    from streams.app import create_app
    from streams.copartition import check_copartitioning

    runtime = create_app(settings, engine_path=asyncio.run(check_copartitioning(settings)))
    # uvloop: about a tenth more throughput for faust's many small callbacks (docs/BENCHMARKS.md).
    asyncio.set_event_loop(uvloop.new_event_loop())
    worker = Worker(runtime.app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
