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
from collections.abc import Callable, Coroutine, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from streams.bench import phases as bench_phases
from streams.bench.broker import REPO, BenchError
from streams.bench.failover import failover
from streams.bench.peer import peer
from streams.bench.phases import Figures, Sizes
from streams.bench.replay import replay_figures
from streams.settings import Settings

#: Each figure the table shows: (JSON key, label, unit). The JSON carries these and a few more.
TABLE: tuple[tuple[str, str, str], ...] = (
    ("throughput_events", "throughput: input events preloaded", ""),
    ("throughput_bare_consumer_events_per_s", "throughput: bare aiokafka consumer + orjson", "events/s"),
    ("throughput_worker_events_per_s", "throughput: lytewatch worker", "events/s"),
    ("throughput_ratio", "throughput: worker / bare consumer", "x"),
    ("throughput_worker_cpu_percent", "throughput: worker CPU while draining", "%"),
    ("whole_feed_events", "whole lab feed: input events preloaded", ""),
    ("whole_feed_bare_consumer_events_per_s", "whole lab feed: bare aiokafka consumer", "events/s"),
    ("whole_feed_worker_events_per_s", "whole lab feed: lytewatch worker", "events/s"),
    ("whole_feed_ratio", "whole lab feed: worker / bare consumer", "x"),
    ("whole_feed_worker_cpu_percent", "whole lab feed: worker CPU while draining", "%"),
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
    ("peer_events", "peer job: lab results preloaded", ""),
    ("peer_lytewatch_events_per_s", "peer job: lytewatch worker", "events/s"),
    ("peer_faust_events_per_s", "peer job: minimal faust-streaming app", "events/s"),
    ("peer_quix_events_per_s", "peer job: Quix Streams app", "events/s"),
    ("peer_faust_ratio", "peer job: lytewatch / faust app", "x"),
    ("peer_quix_ratio", "peer job: lytewatch / Quix Streams app", "x"),
    ("failover_seconds", "failover: SIGKILL -> first alert from its partitions", "s"),
    ("replay_events_per_s", "replay: throughput file, --jobs 1 (wall)", "events/s"),
    ("replay_jobs2_events_per_s", "replay: throughput file, --jobs 2 (wall)", "events/s"),
    ("replay_jobs2_speedup", "replay: --jobs 2 / --jobs 1", "x"),
    ("replay_events_per_cpu_s", "replay: --jobs 1 per CPU-second", "events/s"),
)


Step = Callable[[], Coroutine[Any, Any, Figures]]


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
        if key not in figures:
            continue  # a phase not run (--phase)
        value = figures[key]
        if value is None:
            shown = "-"
        elif isinstance(value, float):
            shown = f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"
        else:
            shown = f"{value:,}"
        out.write(f"  {label:<{width}}  {shown:>14} {unit}\n")
    for key in sorted(k for k in figures if k.endswith("_reason")):
        out.write(f"  {key.removesuffix('_reason')} not measured: {figures[key]}\n")
    out.write(f"  (total {figures['bench_seconds']:.1f} s)\n")


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _steps(settings: Settings, sizes: Sizes, run_id: str) -> dict[str, tuple[str, Step]]:
    """Every phase by name, in the order a full run takes them: (title, coroutine function)."""
    return {
        "throughput": (
            f"throughput: {sizes.throughput_events:,} events",
            lambda: bench_phases.throughput(settings, run_id, sizes.throughput_events),
        ),
        "whole_feed": (
            f"whole lab feed: {sizes.whole_feed_events:,} events",
            lambda: bench_phases.whole_feed(settings, run_id, sizes.whole_feed_events),
        ),
        "latency": (
            f"latency: {sizes.latency_rate:,.0f} events/s for {sizes.latency_seconds:.0f} s",
            lambda: bench_phases.latency(settings, run_id, sizes.latency_rate, sizes.latency_seconds),
        ),
        "state": (
            f"memory and recovery: {sizes.recovery_patients:,} patients",
            lambda: bench_phases.state(settings, run_id, sizes.recovery_patients),
        ),
        "peer": (
            f"peer job: {sizes.peer_events:,} lab results, lytewatch, faust and Quix Streams",
            lambda: peer(settings, run_id, sizes.peer_events),
        ),
        "failover": (
            "failover: two workers, SIGKILL one",
            lambda: failover(settings, run_id, sizes.failover_feed_seconds),
        ),
        "replay": (
            f"replay: {sizes.throughput_events:,} events, --jobs 1 and 2",
            lambda: asyncio.to_thread(replay_figures, sizes.throughput_events, sizes.replay_runs),
        ),
    }


async def _run(settings: Settings, sizes: Sizes, only: Sequence[str]) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    figures: dict[str, Any] = {}
    for name, (title, step) in _steps(settings, sizes, run_id).items():
        if only and name not in only:
            continue
        _say(f"{title} ...")
        started = time.monotonic()
        figures.update(await step())
        _say(f"{title}: done in {time.monotonic() - started:.1f} s")
    return figures


def run_bench(
    settings: Settings, *, quick: bool, json_path: Path | None, only: Sequence[str] | None = None
) -> int:
    """Run every phase (or those in `only`) on the configured broker; print a table, optionally write the
    flat JSON. Exit code."""
    sizes = Sizes.quick() if quick else Sizes.full()
    phases = list(_steps(settings, sizes, ""))
    unknown = sorted(set(only or ()) - set(phases))
    if unknown:
        print(
            f"lytewatch bench: unknown phase {', '.join(unknown)} (phases: {', '.join(phases)})",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    try:
        figures = asyncio.run(_run(settings, sizes, only or ()))
    except BenchError as exc:
        print(f"lytewatch bench: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print("lytewatch bench: a step took too long (broker overloaded or unreachable?)", file=sys.stderr)
        return 1
    figures.update(
        {
            "quick": quick,
            "phases": list(only or phases),
            "partitions": settings.partitions,
            "size_throughput_events": sizes.throughput_events,
            "size_whole_feed_events": sizes.whole_feed_events,
            "size_latency_rate_events_per_s": sizes.latency_rate,
            "size_latency_seconds": sizes.latency_seconds,
            "size_recovery_patients": sizes.recovery_patients,
            "size_peer_events": sizes.peer_events,
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
