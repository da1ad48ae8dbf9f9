"""`lytewatch worker`: wait for the broker, make sure the topics exist, then run the faust worker."""

from __future__ import annotations

import asyncio

import uvloop

from streams import gc_tuning
from streams.logs import configure_logging
from streams.settings import Settings
from streams.topics import wait_for_broker
from streams.worker.app import create_app
from streams.worker.copartition import check_copartitioning
from streams.worker.shutdown import BoundedWorker


def run_worker(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM."""
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(wait_for_broker(settings))
    engine_path = asyncio.run(check_copartitioning(settings))
    # uvloop: faster for faust's many small callbacks (docs/BENCHMARKS.md). Set before the app is built:
    # faust binds the app, its services and timers to the loop current at that moment, so a loop set
    # afterwards is never run (it was not, until the lean-hot-path work found the stdlib loop in a profile).
    asyncio.set_event_loop(uvloop.new_event_loop())
    runtime = create_app(settings, engine_path=engine_path)
    gc_tuning.tune()
    worker = BoundedWorker(
        runtime.app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
        shutdown_timeout_s=settings.shutdown_timeout_s,
    )
    worker.execute_from_commandline()
