"""`lytewatch demo` (what `make run` runs): topics, a worker, the dashboard and a demo feed, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Literal

from streams.feeds.mimic import MIMIC_ATTRIBUTION, iter_mimic
from streams.feeds.produce import ProduceStats, produce_envelopes, topics_from_settings
from streams.feeds.simulate import FaultMix, simulate
from streams.kafka import client_options
from streams.logs import configure_logging
from streams.settings import Settings
from streams.topics import wait_for_broker

log = logging.getLogger(__name__)

MIMIC_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mimic-iv-demo"
# MIMIC patients live decades apart after de-identification; the feed never sleeps longer than this.
MAX_GAP_S = 1.0


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", *args], stdout=handle, stderr=subprocess.STDOUT
    )


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


async def _feed(settings: Settings, feed: Literal["mimic", "simulate"], speed: float) -> ProduceStats:
    options: dict[str, Any] = {k: v for k, v in client_options(settings).items() if k != "bootstrap_servers"}
    topics = topics_from_settings(settings)
    if feed == "mimic":
        envelopes = iter_mimic(MIMIC_DIR)
        return await produce_envelopes(
            settings.bootstrap_servers,
            envelopes,
            topics,
            None,
            time_scale=speed,
            max_delay_s=MAX_GAP_S,
            producer_options=options,
        )
    envelopes = simulate(patients=300, seed=1, events=None, duration_s=None, rate=20.0, faults=FaultMix())
    return await produce_envelopes(
        settings.bootstrap_servers, envelopes, topics, 20.0, producer_options=options
    )


def run_demo(settings: Settings, *, feed: Literal["mimic", "simulate"], speed: float) -> int:
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(wait_for_broker(settings, give_up_after=120))
    logs = Path(".run/logs")
    children = [_spawn(["worker"], logs / "worker.log"), _spawn(["dashboard"], logs / "dashboard.log")]
    worker_url = f"http://{settings.web_host}:{settings.web_port}"
    dashboard_url = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
    try:
        deadline = time.monotonic() + 120
        while not _ready(f"{worker_url}/readyz"):
            if any(child.poll() is not None for child in children) or time.monotonic() > deadline:
                print(f"lytewatch demo: a process failed to start; see {logs}/", file=sys.stderr)
                return 1
            time.sleep(0.5)
        source = (
            "MIMIC-IV demo (100 real de-identified patients)" if feed == "mimic" else "synthetic hospital"
        )
        print(
            "\nlytewatch is running\n"
            f"  dashboard   {dashboard_url}/\n"
            f"  metrics     {worker_url}/metrics\n"
            f"  health      {worker_url}/healthz   {worker_url}/readyz\n"
            f"  alerts      Kafka topic {settings.topic_alerts} on {settings.bootstrap_servers}\n"
            f"  feed        {source}, {speed:g}x hospital time\n"
            f"  logs        {logs}/\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        if feed == "mimic":
            print(MIMIC_ATTRIBUTION, flush=True)
        stats = asyncio.run(_feed(settings, feed, speed))
        print(f"feed finished: {stats.total} messages produced; Ctrl-C to stop", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(1)
        print(f"lytewatch demo: a process stopped; see {logs}/", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            _stop(children)
    return 1
