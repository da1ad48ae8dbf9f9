"""The worker's timers: drop patients no window needs, publish state gauges and consumer lag, log recovery."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from alerts.engine import discharge_expired
from alerts.models import RuleId, Severity
from alerts.state import from_micros
from streams.worker.envelope import DropPatient, DropRecord, encode_envelope
from streams.worker.lag import partition_offsets
from streams.worker.runtime import Runtime
from streams.worker.stored import sweep_summary

log = logging.getLogger(__name__)

_SWEEP_CHUNK = 2000
LAG_INTERVAL_S = 10.0


class Housekeeping:
    """State the timers share: the event-time watermark and whether recovery has been reported."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.recovery_reported = False
        # Whether the last lag measurement failed: an outage is logged once, not every LAG_INTERVAL_S.
        self.lag_failing = False
        self.started = time.monotonic()

    async def sweep(self) -> tuple[int, int]:
        """Drop discharged-and-done and idle patients; refresh state gauges. Returns (kept, dropped)."""
        runtime = self.runtime
        rules = runtime.rules
        idle_cutoff = time.time() - runtime.settings.idle_patient_days * 86400
        open_alerts: Counter[tuple[RuleId, Severity]] = Counter()
        drop: list[tuple[bytes, float, str]] = []
        size = 0
        entries = []
        # Each patient's header only (streams.worker.stored.sweep_summary), not its whole state.
        for n, (key, raw) in enumerate(list(runtime.patients.items())):
            entries.append((key, len(raw), sweep_summary(raw)))
            if n % _SWEEP_CHUNK == 0:
                await asyncio.sleep(0)  # let the agents run between chunks of a large table
        clocks = [summary.clock for _, _, summary in entries if summary.clock is not None]
        # The worker's event time: the latest patient clock it holds.
        watermark = from_micros(max(clocks)) if clocks else None
        for key, raw_size, summary in entries:
            reason = None
            if summary.touched_at < idle_cutoff:
                reason = "idle"
            elif watermark is not None and discharge_expired(summary.discharged_at, watermark, rules):
                reason = "discharged"
            if reason is not None:
                drop.append((key, summary.touched_at, reason))
                continue
            size += raw_size
            for rule, severity in summary.open_alerts:
                open_alerts[(RuleId(rule), Severity(severity))] += 1
        # The engine owns the table: drops travel as commands through the patient-events topic, applied in
        # order with the patient's events (a patient touched since this look is kept).
        for key, touched_at, reason in drop:
            command = DropRecord(
                drop=DropPatient(patient_id=key.decode(), touched_at=touched_at, reason=reason)
            )
            await runtime.app.producer.send(
                runtime.settings.topic_patient_events, key, encode_envelope(command), None, None, None
            )
        kept = len(entries) - len(drop)
        runtime.metrics.set_state_size(kept, size)
        runtime.metrics.set_open_alerts(open_alerts)
        if drop:
            log.info("dropping %d patients (discharged over 24 h ago or idle), %d remain", len(drop), kept)
        return kept, len(drop)

    def report_recovery(self) -> None:
        """Once the table is recovered: log how many patients came back and how long it took."""
        recovery = self.runtime.recovery
        if self.recovery_reported or not recovery.completed.is_set():
            return
        self.recovery_reported = True
        started = getattr(recovery, "_recovery_started_at", None)
        ended = getattr(recovery, "_recovery_ended_at", None)
        seconds = (ended - started) if started and ended else time.monotonic() - self.started
        self.runtime.metrics.recovery_seconds.set(seconds)
        size = sum(1 for _ in self.runtime.patients)
        log.info("recovered table patients: %d entries in %.2f s", size, seconds)

    async def update_lag(self) -> None:
        """Committed lag of this app's consumer group on every input and internal topic partition."""
        settings = self.runtime.settings
        watch = self.runtime.watch
        inputs = set(settings.input_topics.values())
        offsets = await partition_offsets(settings, settings.app_id, [*inputs, settings.topic_patient_events])
        waiting = {"ingest": 0, "engine": 0}
        for tp, (end, committed) in offsets.items():
            self.runtime.metrics.set_consumer_lag(tp.topic, tp.partition, end - committed)
            # For /readyz, what each stage has not processed yet: commits can lag behind processing (faust
            # commits only after a producer flush), and a stage that finished its work is not stuck.
            done = max(committed, watch.processed.get((tp.topic, tp.partition), 0))
            stage = "ingest" if tp.topic in inputs and not self.runtime.engine_path.one_hop else "engine"
            waiting[stage] += max(end - done, 0)
        for stage, n in waiting.items():
            watch.set_lag(stage, n)


def register_timers(runtime: Runtime) -> Housekeeping:
    keeper = Housekeeping(runtime)

    @runtime.app.timer(interval=runtime.settings.sweep_interval_s, name="lytewatch.sweep")
    async def sweep() -> None:
        if runtime.recovery.completed.is_set():
            await keeper.sweep()

    @runtime.app.timer(interval=1.0, name="lytewatch.recovery-report")
    async def recovery_report() -> None:
        runtime.metrics.recovering.set(0 if runtime.recovery.completed.is_set() else 1)
        keeper.report_recovery()

    @runtime.app.timer(interval=LAG_INTERVAL_S, name="lytewatch.lag")
    async def lag() -> None:
        try:
            await keeper.update_lag()
        except Exception as exc:
            # Once per outage at WARNING (the broker check on /readyz says the rest), then only at DEBUG.
            if not keeper.lag_failing:
                log.warning(
                    "consumer lag not measured (%s); retrying every %.0f s",
                    type(exc).__name__,
                    LAG_INTERVAL_S,
                )
            log.debug("consumer lag failure", exc_info=True)
            keeper.lag_failing = True
            return
        if keeper.lag_failing:
            log.info("consumer lag measured again")
            keeper.lag_failing = False

    return keeper
