"""`lytewatch bench`: throughput, latency, recovery and memory of a real worker on the configured broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from streams.bench import phases as bench_phases
from streams.bench.broker import REPO, BenchError
from streams.bench.phases import Figures, Sizes
from streams.settings import Settings

#: Each figure the table shows: (JSON key, label, unit). The JSON carries these and a few more.
TABLE: tuple[tuple[str, str, str], ...] = (
    ("throughput_events", "throughput: input events preloaded", ""),
    ("throughput_bare_consumer_events_per_s", "throughput: bare aiokafka consumer + orjson", "events/s"),
    ("throughput_worker_events_per_s", "throughput: lytewatch worker", "events/s"),
    ("throughput_ratio", "throughput: worker / bare consumer", "x"),
    ("throughput_worker_cpu_percent", "throughput: worker CPU while draining", "%"),
    ("latency_rate_achieved_events_per_s", "latency: feed rate achieved", "events/s"),
    ("latency_e2e_samples", "latency: end-to-end samples (cohort alerts)", ""),
    ("latency_e2e_p50_ms", "latency: end-to-end p50", "ms"),
    ("latency_e2e_p95_ms", "latency: end-to-end p95", "ms"),
    ("latency_e2e_p99_ms", "latency: end-to-end p99", "ms"),
    ("latency_processing_p50_ms", "latency: processing p50 (worker histogram)", "ms"),
    ("latency_processing_p95_ms", "latency: processing p95 (worker histogram)", "ms"),
    ("latency_processing_p99_ms", "latency: processing p99 (worker histogram)", "ms"),
    ("recovery_patients", "recovery: patients in the changelog", ""),
    ("recovery_seconds", "recovery: process start -> /readyz 200", "s"),
    ("recovery_changelog_seconds", "recovery: lytewatch_changelog_recovery_seconds", "s"),
    ("memory_rss_idle_bytes", "memory: RSS of an idle worker", "bytes"),
    ("memory_rss_bytes_per_patient", "memory: RSS per patient in state", "bytes"),
    ("memory_rss_mb_per_10k_patients", "memory: RSS per 10,000 patients", "MiB"),
)


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python, Kafka and client versions of this run."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
                break
    return {
        "cpu_model": cpu,
        "cpu_cores": os.cpu_count() or 0,
        "ram_bytes": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "kafka_version": _kafka_version(),
        "faust_streaming": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "rocksdict": _version("rocksdict"),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def code_version() -> str:
    """`git describe --always --dirty` of the code that was measured, or "unknown" outside a checkout."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _kafka_version() -> str:
    """The broker's version from the jars of the local broker under deploy/kafka (the one the docs use)."""
    jars = sorted((REPO / "deploy" / "kafka" / "lib").glob("kafka_2.13-*.jar"))
    return jars[-1].name.removeprefix("kafka_2.13-").removesuffix(".jar") if jars else "unknown"


def render_table(figures: dict[str, Any], out: TextIO) -> None:
    m = figures["machine"]
    out.write(
        f"\nlytewatch bench ({'quick' if figures['quick'] else 'full'}) on {m['cpu_model']}, "
        f"{m['cpu_cores']} cores, {m['ram_bytes'] / 2**30:.1f} GiB, Python {m['python']}, "
        f"Kafka {m['kafka_version']}, code {figures['code_version']}, "
        f"load {figures['load_average_1m_before']} before / {m['load_average_1m']} after\n"
    )
    width = max(len(label) for _, label, _ in TABLE)
    for key, label, unit in TABLE:
        value = figures.get(key)
        if value is None:
            shown = "-"
        elif isinstance(value, float):
            shown = f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"
        else:
            shown = f"{value:,}"
        out.write(f"  {label:<{width}}  {shown:>14} {unit}\n")
    out.write(f"  (total {figures['bench_seconds']:.1f} s)\n")


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


async def _run(settings: Settings, sizes: Sizes) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    figures: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Coroutine[Any, Any, Figures]]]] = [
        (
            f"throughput: {sizes.throughput_events:,} events",
            lambda: bench_phases.throughput(settings, run_id, sizes.throughput_events),
        ),
        (
            f"latency: {sizes.latency_rate:,.0f} events/s for {sizes.latency_seconds:.0f} s",
            lambda: bench_phases.latency(settings, run_id, sizes.latency_rate, sizes.latency_seconds),
        ),
        (
            f"memory and recovery: {sizes.recovery_patients:,} patients",
            lambda: bench_phases.state(settings, run_id, sizes.recovery_patients),
        ),
    ]
    for title, step in steps:
        _say(f"{title} ...")
        started = time.monotonic()
        figures.update(await step())
        _say(f"{title}: done in {time.monotonic() - started:.1f} s")
    return figures


def run_bench(settings: Settings, *, quick: bool, json_path: Path | None) -> int:
    """Run every phase on the configured broker; print a table, optionally write the flat JSON. Exit code."""
    sizes = Sizes.quick() if quick else Sizes.full()
    started = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    try:
        figures = asyncio.run(_run(settings, sizes))
    except BenchError as exc:
        print(f"lytewatch bench: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print("lytewatch bench: a step took too long (broker overloaded or unreachable?)", file=sys.stderr)
        return 1
    figures.update(
        {
            "quick": quick,
            "partitions": settings.partitions,
            "size_throughput_events": sizes.throughput_events,
            "size_latency_rate_events_per_s": sizes.latency_rate,
            "size_latency_seconds": sizes.latency_seconds,
            "size_recovery_patients": sizes.recovery_patients,
            "bench_seconds": round(time.monotonic() - started, 1),
            "code_version": code_version(),
            # The machine may be shared: a high load average before the run means noisy figures.
            "load_average_1m_before": load_before,
            "machine": machine(),
        }
    )
    render_table(figures, sys.stdout)
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return 0
