"""`lytewatch demo` (what `make run` runs): topics, a worker, the dashboard and a demo feed, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from aiokafka.errors import KafkaError

from alerts.codes import load_code_mapping
from alerts.rulesfile import load_rules
from streams.demo_children import Child, DemoFailure, port_problem, start_child, stop_children, wait_answering
from streams.demo_plan import MAX_GAP_S, plan_demo
from streams.feeds import Envelope
from streams.feeds.mimic import MIMIC_ATTRIBUTION, iter_mimic
from streams.feeds.produce import ProduceStats, produce_scheduled, schedule_envelopes, topics_from_settings
from streams.feeds.simulate import FaultMix, simulate
from streams.kafka import client_options
from streams.logs import configure_logging
from streams.settings import Settings, SettingsError
from streams.topics import wait_for_broker

log = logging.getLogger(__name__)

MIMIC_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mimic-iv-demo"
Feed = Literal["demo", "mimic", "simulate"]
#: Exit code when the demo cannot run (a port taken, a child gone, no broker), as for a bad setting.
EXIT_FAILED = 2
#: How long the children get to answer on their ports.
START_WITHIN_S = 120.0


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    # SIGINT and SIGTERM stop the demo alike: every child is stopped on the way out. SIGINT is taken
    # explicitly (not left to asyncio, nor ignored when inherited so from a background shell) because the
    # children get the terminal's Ctrl-C too and exit on it: the demo must not report that as a failure.
    raise KeyboardInterrupt


def _describe(feed: Feed, speed: float, detail: str) -> str:
    if feed == "demo":
        return detail
    if feed == "mimic":
        return (
            f"MIMIC-IV demo (100 real de-identified patients), {speed:,.0f}x hospital time, "
            "pauses capped at 1 s"
        )
    return "synthetic hospital, 300 patients, 20 messages/s"


Schedule = Iterator[tuple[float, Envelope]]


def _plan(settings: Settings, feed: Feed, speed: float) -> tuple[Callable[[], Schedule], str]:
    """A maker of what the feed sends, as (seconds after the start, envelope), and the account of its timing.

    The schedule is made when the feed starts, so the cohort's event times are the moments it is sent.
    """
    if feed == "demo":
        data = MIMIC_DIR if MIMIC_DIR.is_dir() else None
        plan = plan_demo(
            data,
            rules=load_rules(settings.rules_file),
            mapping=load_code_mapping(settings.code_mapping_file),
            tz=settings.tz,
        )
        detail = plan.describe()
        if data is None:
            detail += f" (MIMIC-IV data not found at {MIMIC_DIR})"
        return lambda: plan.schedule(datetime.now(UTC)), detail
    if feed == "mimic":
        return lambda: schedule_envelopes(iter_mimic(MIMIC_DIR), None, speed, MAX_GAP_S), ""

    def synthetic() -> Schedule:
        envelopes = simulate(patients=300, seed=1, events=None, duration_s=None, rate=20.0, faults=FaultMix())
        return schedule_envelopes(envelopes, 20.0, None, None)

    return synthetic, ""


async def _feed(settings: Settings, schedule: Schedule, children: list[Child]) -> ProduceStats:
    """Produce the schedule while watching the children: one that exits ends the demo."""
    options: dict[str, Any] = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
    feed = asyncio.create_task(
        produce_scheduled(
            settings.bootstrap_servers, schedule, topics_from_settings(settings), producer_options=options
        )
    )
    try:
        while not feed.done():
            for child in children:
                if child.exited() is not None:
                    raise DemoFailure(child.why_exited())
            await asyncio.wait([feed], timeout=0.5)
        return feed.result()
    finally:
        feed.cancel()
        with contextlib.suppress(asyncio.CancelledError, KafkaError):
            await feed


def _run_feed(settings: Settings, schedule: Schedule, children: list[Child]) -> ProduceStats:
    """The feed on its own event loop in a daemon thread, the main thread waiting for it.

    A stop signal then reaches the main thread at once, which stops the children; a Kafka client stuck on a
    broker that is gone (its cancellation and close can wait on it) cannot hold the demo's exit.
    """
    outcome: list[ProduceStats] = []
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            outcome.append(asyncio.run(_feed(settings, schedule, children)))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            failure.append(exc)

    thread = threading.Thread(target=feed, name="lytewatch-demo-feed", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(timeout=0.5)
    if failure:
        raise failure[0]
    return outcome[0]


def _children(settings: Settings, logs: Path) -> list[Child]:
    return [
        Child(
            "worker",
            "LYTEWATCH_WEB_PORT",
            settings.web_host,
            settings.web_port,
            "/readyz",
            logs / "worker.log",
        ),
        Child(
            "dashboard",
            "LYTEWATCH_DASHBOARD_PORT",
            settings.dashboard_host,
            settings.dashboard_port,
            "/readyz",
            logs / "dashboard.log",
        ),
    ]


def _demo_sign_in(settings: Settings, env: dict[str, str]) -> str:
    """The dashboard's sign-in as the console states it; none (loopback only) unless one is configured."""
    try:
        mode = settings.dashboard_auth_mode
    except SettingsError:
        # The demo binds to loopback (Settings refuses "none" elsewhere), so it may run without sign-in.
        env["LYTEWATCH_DASHBOARD_AUTH"] = mode = "none"
    if mode == "none":
        return "NONE (LYTEWATCH_DASHBOARD_AUTH=none): anyone on this machine may read and acknowledge"
    return f"{mode} (as configured)"


def _check_ports(children: list[Child]) -> None:
    for child in children:
        if (problem := port_problem(child)) is not None:
            raise DemoFailure(problem)


def run_demo(settings: Settings, *, feed: Feed, speed: float) -> int:
    """Run the demo until Ctrl-C or SIGTERM (exit 0), or until it cannot go on (exit 2, saying why)."""
    configure_logging(settings.log_level, settings.log_format)
    logs = Path(".run/logs")
    children = _children(settings, logs)
    previous = {sig: signal.signal(sig, _on_stop_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _check_ports(children)
        try:
            asyncio.run(wait_for_broker(settings, give_up_after=START_WITHIN_S))
        except (KafkaError, OSError) as exc:
            raise DemoFailure(
                f"the broker {settings.bootstrap_servers} (LYTEWATCH_BROKER) did not answer within "
                f"{START_WITHIN_S:.0f} s ({type(exc).__name__}); start it with `make kafka-up`"
            ) from None
        make_schedule, detail = _plan(settings, feed, speed)
        description = _describe(feed, speed, detail)
        env = {**os.environ, "LYTEWATCH_DASHBOARD_NOTICE": f"Demo data. {description}"}
        sign_in = _demo_sign_in(settings, env)
        for child in children:
            start_child(child, [child.name], env)
        wait_answering(children, within=START_WITHIN_S)
        worker, dashboard = children
        print(
            "\nlytewatch is running\n"
            f"  dashboard   {dashboard.url}/\n"
            f"  sign-in     {sign_in}\n"
            f"  metrics     {worker.url}/metrics   {dashboard.url}/metrics\n"
            f"  health      {worker.url}/healthz   {worker.url}/readyz\n"
            f"  alerts      Kafka topic {settings.topic_alerts} on {settings.bootstrap_servers}\n"
            f"  feed        {description}\n"
            f"  logs        {logs}/\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        if feed != "simulate":
            print(MIMIC_ATTRIBUTION, flush=True)
        stats = _run_feed(settings, make_schedule(), children)
        print(f"feed finished: {stats.total} messages produced; Ctrl-C to stop", flush=True)
        _watch(children)
    except DemoFailure as failure:
        print(f"lytewatch demo: {failure}; stopping everything", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not cut the stop short and leave children behind (it is bounded anyway).
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_FAILED


def _watch(children: list[Child]) -> None:
    """After the feed: keep serving until Ctrl-C; a child that exits ends the demo."""
    while True:
        for child in children:
            if child.exited() is not None:
                raise DemoFailure(child.why_exited())
        time.sleep(1.0)
