"""The measurements of `lytewatch bench`: throughput, latency, recovery and memory, each on a real worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord

from streams.bench.broker import (
    BenchError,
    GroupProgress,
    Phase,
    WorkerProcess,
    bare_consume,
    produce_all,
    read_to_end,
)
from streams.bench.feeds import (
    COHORT_PREFIX,
    AlertingCohort,
    Record,
    one_result_per_patient,
    synthetic_records,
    throughput_patients,
    whole_lab_feed,
)
from streams.bench.stats import bucket_delta, histogram_quantile, percentile
from streams.kafka import client_options
from streams.settings import Settings

log = logging.getLogger(__name__)

#: One phase's figures; None for a figure that could not be measured (a `<name>_reason` key says why).
Figures = dict[str, float | int | str | None]

#: One in this many latency-feed events comes from the alerting cohort; the rest is the synthetic hospital.
COHORT_EVERY = 5
#: Seconds to let a worker settle before its RSS is read (allocator and RocksDB background work).
SETTLE_S = 3.0
#: Longest a client step (bulk produce, bare consume) may take before the bench gives up instead of hanging.
STEP_LIMIT_S = 600.0


@dataclass(frozen=True, slots=True)
class Sizes:
    """Workload sizes of one benchmark run."""

    throughput_events: int
    latency_rate: float
    latency_seconds: float
    recovery_patients: int
    peer_events: int
    failover_feed_seconds: float
    # The whole feed's worker drains ~6 times faster than the throughput workload's: fewer events would be
    # applied before the worker is ready, leaving nothing to time.
    whole_feed_events: int = 200_000
    replay_runs: int = 3

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            throughput_events=200_000,
            latency_rate=1000.0,
            latency_seconds=60.0,
            recovery_patients=100_000,
            peer_events=50_000,
            failover_feed_seconds=120.0,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            throughput_events=20_000,
            latency_rate=1000.0,
            latency_seconds=15.0,
            recovery_patients=5_000,
            peer_events=10_000,
            failover_feed_seconds=90.0,
            whole_feed_events=100_000,
            replay_runs=1,
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


async def throughput(base: Settings, run_id: str, events: int) -> Figures:
    """The throughput workload (native JSON labs, orders and ADT): a bare consumer and a real worker."""
    records = synthetic_records(events, patients=throughput_patients(events))
    return await _backlog(base, run_id, "tput", "throughput", records)


async def whole_feed(base: Settings, run_id: str, events: int) -> Figures:
    """A hospital's whole lab feed (about 90 % other tests, in JSON, HL7 v2 and FHIR): the same two runs."""
    records = whole_lab_feed(events, patients=throughput_patients(events))
    return await _backlog(base, run_id, "feed", "whole_feed", records)


async def _backlog(base: Settings, run_id: str, phase_name: str, key: str, feed: Iterable[Record]) -> Figures:
    """Preload `feed`, then time a bare consumer and a real worker over the same records; figures `key`_*."""
    phase = Phase.create(base, run_id, phase_name)
    try:
        await phase.create_topics()
        records = list(feed)
        kinds = Counter(r.kind for r in records)
        formats = Counter(wire_format(r.value) for r in records)
        started = time.perf_counter()
        produced = await asyncio.wait_for(
            produce_all(phase.settings, phase.settings.input_topics, records), STEP_LIMIT_S
        )
        produce_seconds = time.perf_counter() - started
        del records
        inputs = [phase.settings.input_topics[kind] for kind in sorted(kinds)]
        bare_count, bare_seconds = await asyncio.wait_for(bare_consume(phase.settings, inputs), STEP_LIMIT_S)
        if bare_count != produced:
            raise BenchError(f"bare consumer read {bare_count} of {produced} records")
        worker = WorkerProcess(phase, "worker", phase.workdir / "data")
        try:
            async with GroupProgress.of(phase) as progress:
                ready = await worker.wait_ready()
                cpu_at_ready = worker.cpu_seconds()
                done_at_ready, _ = await progress.snapshot()
                inputs_at_ready = await worker.inputs_counted()
                drained = await progress.wait_drained(worker, limit_s=max(600.0, produced / 50))
                cpu_used = worker.cpu_seconds() - cpu_at_ready
                _, total = await progress.snapshot()
        finally:
            worker.stop()
        # The worker starts consuming seconds before /readyz says 200: count only the work left at that
        # moment, in input events. Two lower bounds of what was done by then, the larger taken: the group's
        # commits (input and patient-events messages; faust commits every 2.8 s) and the worker's own count
        # of input messages (read just after, so it may hold a few more).
        remaining_share = min((total - done_at_ready) / total, (produced - inputs_at_ready) / produced)
        if remaining_share <= 0:
            raise BenchError(f"{key}: all {produced} events were applied before the worker was ready")
        worker_seconds = drained - ready
        worker_rate = produced * remaining_share / worker_seconds
        bare_rate = bare_count / bare_seconds
        return {
            f"{key}_events": produced,
            f"{key}_lab_results": kinds["labs"],
            f"{key}_orders": kinds["orders"],
            f"{key}_adt_events": kinds["adt"],
            f"{key}_hl7_messages": formats["hl7"],
            f"{key}_fhir_resources": formats["fhir"],
            f"{key}_produce_events_per_s": round(produced / produce_seconds, 1),
            f"{key}_bare_consumer_events_per_s": round(bare_rate, 1),
            f"{key}_worker_events_per_s": round(worker_rate, 1),
            f"{key}_worker_seconds": round(worker_seconds, 2),
            f"{key}_worker_startup_seconds": round(ready - worker.started, 2),
            f"{key}_worker_inputs_before_ready": int(inputs_at_ready),
            # Over 100 means more than one core (RocksDB's background threads run beside the loop).
            f"{key}_worker_cpu_percent": round(100 * cpu_used / worker_seconds, 1),
            f"{key}_ratio": round(worker_rate / bare_rate, 4),
        }
    finally:
        await phase.delete()


def wire_format(value: bytes) -> str:
    """ "hl7", "fhir" or "json": how a bench record is written (the bench's own records only)."""
    return "hl7" if value.startswith(b"MSH") else "fhir" if b'"resourceType"' in value[:40] else "json"


def _latency_records(
    rate: float, seconds: float, cohort: AlertingCohort
) -> Iterator[tuple[Record, str | None]]:
    """The latency feed: the synthetic hospital with every COHORT_EVERY-th event from the alerting cohort.

    Yields (record, "<patient id> <event epoch s>") for cohort records, (record, None) for the others.
    """
    total = int(rate * seconds)
    hospital = synthetic_records(total, patients=2000, seed=11)
    for n in range(total):
        if n % COHORT_EVERY == COHORT_EVERY - 1:
            record, patient_id, at = cohort.next()
            yield record, f"{patient_id} {int(at.timestamp())}"
        else:
            hospital_record = next(hospital, None)
            if hospital_record is not None:
                yield hospital_record, None


async def paced_feed(
    settings: Settings, topics: dict[str, str], rate: float, seconds: float, cohort_patients: int
) -> tuple[int, float, dict[str, int]]:
    """Produce the latency feed at `rate`/s; return (sent, seconds taken, cohort input CreateTime in ms)."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=0)
    await producer.start()
    created: dict[str, int] = {}
    pending: list[asyncio.Future[object]] = []
    loop = asyncio.get_running_loop()
    sent = 0
    try:
        feed = _latency_records(rate, seconds, AlertingCohort(cohort_patients))
        started = loop.time()
        exhausted = False
        while not exhausted:
            due = int((loop.time() - started) * rate) + 1
            while sent < due:
                item = next(feed, None)
                if item is None:
                    exhausted = True
                    break
                record, name = item
                future = await producer.send(topics[record.kind], value=record.value, key=record.key)
                if name is not None:
                    future.add_done_callback(
                        lambda f, name=name: created.__setitem__(name, f.result().timestamp)
                    )
                pending.append(future)
                sent += 1
            # Short sleeps spread the feed evenly: about `rate` / 1000 records per millisecond tick.
            await asyncio.sleep(0.001)
        took = loop.time() - started
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent, took, created


async def _alert_latencies(
    settings: Settings, topic: str, created: dict[str, int]
) -> tuple[int, list[float]]:
    """Read the alerts topic to its end: (alert count, sorted cohort end-to-end latencies in seconds)."""
    latencies: list[float] = []
    count = 0
    prefix = COHORT_PREFIX.encode()

    def measure(records: list[ConsumerRecord]) -> None:
        nonlocal count
        count += len(records)
        for record in records:
            if record.key is None or not record.key.startswith(prefix):
                continue
            alert = orjson.loads(record.value)
            moment = int(datetime.fromisoformat(alert["event_time"]).timestamp())
            input_ms = created.get(f"{alert['patient_id']} {moment}")
            if input_ms is not None:
                latencies.append((record.timestamp - input_ms) / 1000.0)

    await read_to_end(settings, [topic], measure)
    latencies.sort()
    return count, latencies


async def latency(base: Settings, run_id: str, rate: float, seconds: float) -> Figures:
    """A steady feed at `rate`/s for `seconds` into a running worker: end-to-end and processing latency."""
    phase = Phase.create(base, run_id, "lat")
    try:
        await phase.create_topics()
        worker = WorkerProcess(phase, "worker", phase.workdir / "data")
        try:
            async with GroupProgress.of(phase) as progress:
                await worker.wait_ready()
                before = await worker.metrics()
                cpu_before = worker.cpu_seconds()
                sent, took, created = await paced_feed(
                    phase.settings, phase.settings.input_topics, rate, seconds, cohort_patients=1000
                )
                fed = time.monotonic()
                cpu_fed = worker.cpu_seconds() - cpu_before
                drained = await progress.wait_drained(worker, limit_s=max(300.0, seconds * 5))
                after = await worker.metrics()
        finally:
            worker.stop()
        alerts, e2e = await _alert_latencies(phase.settings, phase.settings.topic_alerts, created)
        if not e2e:
            raise BenchError("no cohort alert came out: end-to-end latency has no samples")
        processing = bucket_delta(before, after, "lytewatch_processing_latency_seconds")
        worker_e2e = bucket_delta(before, after, "lytewatch_end_to_end_latency_seconds")
        figures: Figures = {
            "latency_rate_target_events_per_s": rate,
            "latency_rate_achieved_events_per_s": round(sent / took, 1),
            "latency_feed_seconds": round(took, 2),
            "latency_events": sent,
            "latency_alerts": alerts,
            "latency_e2e_samples": len(e2e),
            "latency_drain_after_feed_seconds": round(max(drained - fed, 0.0), 2),
            "latency_worker_cpu_percent": round(100 * cpu_fed / took, 1),
        }
        for q in (50, 95, 99):
            figures[f"latency_e2e_p{q}_ms"] = _ms(percentile(e2e, q / 100))
        figures["latency_e2e_max_ms"] = _ms(e2e[-1])
        for q in (50, 95, 99):
            figures[f"latency_processing_p{q}_ms"] = _ms(histogram_quantile(processing, q / 100))
        figures["latency_processing_samples"] = int(processing.get(float("inf"), 0))
        figures["latency_e2e_worker_histogram_p99_ms"] = _ms(histogram_quantile(worker_e2e, 0.99))
        return figures
    finally:
        await phase.delete()


async def _recovery_seconds_metric(worker: WorkerProcess, limit_s: float = 15.0) -> float:
    """lytewatch_changelog_recovery_seconds once the worker's 1 s recovery-report timer has set it."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        samples = await worker.metrics()
        value = next(iter(samples.get("lytewatch_changelog_recovery_seconds", {}).values()), 0.0)
        if value > 0 and worker.recovered_entries() is not None:
            return value
        await asyncio.sleep(0.25)
    raise BenchError("the worker never reported its recovery (metric and log line)")


async def state(base: Settings, run_id: str, patients: int) -> Figures:
    """Memory: RSS idle vs with `patients` in the table. Recovery: a fresh worker restores them."""
    phase = Phase.create(base, run_id, "state")
    try:
        await phase.create_topics()
        filler = WorkerProcess(phase, "worker-fill", phase.workdir / "data-fill")
        try:
            async with GroupProgress.of(phase) as progress:
                await filler.wait_ready()
                await asyncio.sleep(SETTLE_S)
                rss_idle = filler.rss_bytes()
                filling = produce_all(
                    phase.settings, phase.settings.input_topics, one_result_per_patient(patients)
                )
                await asyncio.wait_for(filling, STEP_LIMIT_S)
                await progress.wait_drained(filler, limit_s=max(600.0, patients / 50))
                await asyncio.sleep(SETTLE_S)
                rss_full = filler.rss_bytes()
        finally:
            filler.stop()
        # A fresh data dir: RocksDB is empty, so every entry comes back from the changelog topic.
        recovering = WorkerProcess(phase, "worker-recover", phase.workdir / "data-recover")
        try:
            ready = await recovering.wait_ready(limit_s=max(300.0, patients / 100))
            changelog_seconds = await _recovery_seconds_metric(recovering)
            restored = recovering.recovered_entries()
        finally:
            recovering.stop()
        if restored != patients:
            raise BenchError(f"the recovered table holds {restored} patients, expected {patients}")
        per_patient = (rss_full - rss_idle) / patients
        return {
            "recovery_patients": patients,
            "recovery_restored_entries": restored,
            "recovery_seconds": round(ready - recovering.started, 2),
            "recovery_changelog_seconds": round(changelog_seconds, 2),
            "memory_patients": patients,
            "memory_rss_idle_bytes": rss_idle,
            "memory_rss_full_bytes": rss_full,
            "memory_rss_bytes_per_patient": round(per_patient, 1),
            "memory_rss_mb_per_10k_patients": round(per_patient * 10_000 / 2**20, 2),
        }
    finally:
        with contextlib.suppress(Exception):
            await phase.delete()
