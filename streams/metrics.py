"""Every Prometheus metric lytewatch exports, declared once on a registry that tests can replace."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerts.cds import SERVICES as CDS_SERVICE_SPECS
from alerts.errors import DeadLetterReason, IgnoreReason
from alerts.models import AlertEvent, AlertEventKind, RuleId, Severity

#: 1 ms .. 10 s: the worker's own work is milliseconds, a stalled broker shows up at seconds.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: faust's figures (exported from its monitor on a timer) are named `<prefix>_...`, whatever the app id.
FAUST_METRICS_PREFIX: Final = "lytewatch_faust"

#: Label values are closed sets: anything else is reported as OTHER, so a caller's mistake can never
#: put free text (let alone a patient id) into a label or explode the number of series.
OTHER: Final = "other"
INPUT_FORMATS: Final = ("json", "hl7v2", "fhir", "unknown")
RECEIVER_TYPES: Final = ("webhook", "email", "pager", "chat")
DELIVERY_OUTCOMES: Final = ("delivered", "retried", "failed", "suppressed")
_DEADLETTER_REASONS: Final = frozenset(r.value for r in DeadLetterReason)
_IGNORE_REASONS: Final = frozenset(r.value for r in IgnoreReason)
#: Where a dead letter was written. `ingest`: an input message dead-lettered whole (with used and ignored it
#: accounts for every input message); `ingest_partial`: the rejected part of a message that was otherwise
#: used; `engine`: a patient event the engine failed on (its input message was counted as used).
DEADLETTER_STAGES: Final = ("ingest", "ingest_partial", "engine")
#: MLLP edge: ACK codes and framing faults (message types come from the listener, see prime_mllp).
MLLP_ACK_CODES: Final = ("AA", "AE", "AR")
MLLP_FRAME_ERRORS: Final = ("garbage", "unterminated", "too_large")
#: CDS Hooks edge: services, request outcomes, card indicators, feedback outcomes.
CDS_SERVICES: Final = tuple(CDS_SERVICE_SPECS)
CDS_OUTCOMES: Final = ("cards", "no_cards", "bad_request", "unauthorized", "unavailable")
CDS_INDICATORS: Final = ("info", "warning", "critical")
CDS_FEEDBACK: Final = ("accepted", "overridden")


def _closed(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


def _epoch_seconds(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


class Metrics:
    """The metrics of one lytewatch process; pass a fresh CollectorRegistry in tests."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        r = self.registry
        self.input_messages = Counter(
            "lytewatch_input_messages",
            "Messages arrived on an input topic, before decoding (ignored and dead-lettered included)",
            ["topic", "format"],
            registry=r,
        )
        self.ignored = Counter(
            "lytewatch_ignored",
            "Input messages ignored, by reason: unwatched (other tests, other drugs), unknown_code_system "
            "(a K or Mg code under a code-system spelling lytewatch does not know), ack_changes_nothing",
            ["topic", "reason"],
            registry=r,
        )
        self.input_used = Counter(
            "lytewatch_input_used",
            "Input messages that gave the engine at least one event (partly bad ones included)",
            ["topic"],
            registry=r,
        )
        self.deadletters = Counter(
            "lytewatch_deadletter",
            "Dead letters written, by input topic, stage (ingest, ingest_partial, engine) and reason",
            ["topic", "stage", "reason"],
            registry=r,
        )
        self.alert_transitions = Counter(
            "lytewatch_alert_transitions",
            "Alert lifecycle events published on the alerts topic",
            ["rule", "event", "severity"],
            registry=r,
        )
        self.open_alerts = Gauge(
            "lytewatch_open_alerts",
            "Alerts currently open (fired, not resolved) in the partitions this process owns",
            ["rule", "severity"],
            registry=r,
        )
        self.patients_in_state = Gauge(
            "lytewatch_patients_in_state",
            "Patients held in the state table partitions this process owns",
            registry=r,
        )
        self.state_bytes = Gauge(
            "lytewatch_state_bytes",
            "Estimated serialised size of the state this process owns, in bytes",
            registry=r,
        )
        self.processing_latency = Histogram(
            "lytewatch_processing_latency_seconds",
            "Time from a message's arrival at the worker until its alert events are produced",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.end_to_end_latency = Histogram(
            "lytewatch_end_to_end_latency_seconds",
            "Time from the input message's Kafka timestamp until the alert event is produced",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "lytewatch_consumer_lag",
            "Messages not yet consumed (end offset minus position) per assigned partition",
            ["topic", "partition"],
            registry=r,
        )
        self.recovery_seconds = Gauge(
            "lytewatch_changelog_recovery_seconds",
            "Duration of the last completed state recovery from the changelog, in seconds",
            registry=r,
        )
        self.recovering = Gauge(
            "lytewatch_changelog_recovering",
            "1 while the state table is being recovered from the changelog, else 0",
            registry=r,
        )
        self.last_input_timestamp = Gauge(
            "lytewatch_last_input_timestamp_seconds",
            "Wall-clock time (Unix seconds) the last message arrived on each input topic",
            ["topic"],
            registry=r,
        )
        self.order_enforced = Counter(
            "lytewatch_order_enforced",
            "Input records applied while another input partition of their group had not delivered within "
            "LYTEWATCH_MAX_TASK_IDLE_MS: record-timestamp order across topics not guaranteed for them",
            registry=r,
        )
        self.rekeyed = Counter(
            "lytewatch_rekeyed_events",
            "Events that went through the internal patient-events topic (input not keyed by its patient)",
            ["topic"],
            registry=r,
        )
        self.build_info = Gauge(
            "lytewatch_build_info",
            "Always 1; the labels carry the software version and the clinical rules version",
            ["version", "rules_version"],
            registry=r,
        )
        self.notifications = Counter(
            "lytewatch_notifications",
            "Notification delivery attempts by the notifier, by receiver type and outcome",
            ["receiver_type", "outcome"],
            registry=r,
        )
        self.delivery = self.notifications
        self._declare_faust(r)
        self._declare_edges(r)
        self._mllp_types: frozenset[str] = frozenset({OTHER})
        self._recovery_started: float | None = None
        self._prime_label_free_series()

    def _declare_faust(self, r: CollectorRegistry) -> None:
        p = FAUST_METRICS_PREFIX
        self.faust_rebalances = Gauge(
            f"{p}_rebalances", "Rebalances this worker has been through", registry=r
        )
        self.faust_assignments = Gauge(
            f"{p}_assignments",
            "Partition assignments this worker completed or failed",
            ["outcome"],
            registry=r,
        )
        self.faust_send_errors = Gauge(
            f"{p}_send_errors", "Records faust's producer could not publish", registry=r
        )
        self.faust_commit_latency = Gauge(
            f"{p}_commit_latency_seconds",
            "Median duration of the recent offset commits, in seconds",
            registry=r,
        )

    def _declare_edges(self, r: CollectorRegistry) -> None:
        self.mllp_connections = Counter(
            "lytewatch_mllp_connections", "MLLP connections accepted by the listener", registry=r
        )
        self.mllp_open_connections = Gauge(
            "lytewatch_mllp_open_connections", "MLLP connections open now", registry=r
        )
        self.mllp_messages = Counter(
            "lytewatch_mllp_messages",
            "HL7 messages received over MLLP, by message type (MSH-9) and the ACK code answered",
            ["message_type", "ack_code"],
            registry=r,
        )
        self.mllp_bytes = Counter(
            "lytewatch_mllp_received_bytes", "Bytes of HL7 messages received", registry=r
        )
        self.mllp_frame_errors = Counter(
            "lytewatch_mllp_frame_errors",
            "MLLP framing faults: bytes outside frames, messages without an end block, over the size limit",
            ["kind"],
            registry=r,
        )
        self.mllp_write_latency = Histogram(
            "lytewatch_mllp_write_latency_seconds",
            "Received message -> the broker confirmed its write (acks=all), i.e. the delay before ACK AA",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cds_requests = Counter(
            "lytewatch_cds_requests",
            "CDS Hooks calls by service and outcome: cards, no_cards, bad_request, unauthorized, unavailable",
            ["service", "outcome"],
            registry=r,
        )
        self.cds_cards = Counter(
            "lytewatch_cds_cards",
            "CDS Hooks cards returned, by service and indicator",
            ["service", "indicator"],
            registry=r,
        )
        self.cds_feedback = Counter(
            "lytewatch_cds_feedback",
            "CDS Hooks card feedback from clinicians, by service and outcome (accepted, overridden)",
            ["service", "outcome"],
            registry=r,
        )

    # --- set-up -------------------------------------------------------------------------------------

    def _prime_label_free_series(self) -> None:
        # Series that exist from the start read 0 instead of "no data", so rate() and alert rules work
        # before the first event and dashboards do not show gaps.
        for rule in RuleId:
            for severity in Severity:
                self.open_alerts.labels(rule=rule.value, severity=severity.value).set(0)
                for kind in AlertEventKind:
                    self.alert_transitions.labels(rule=rule.value, event=kind.value, severity=severity.value)
        self.recovering.set(0)

    def prime_topics(self, input_topics: Iterable[str]) -> None:
        """Create the zero series of every input topic (call once at start with the configured topics)."""
        for topic in input_topics:
            for fmt in INPUT_FORMATS:
                self.input_messages.labels(topic=topic, format=fmt)
            for ignore_reason in IgnoreReason:
                self.ignored.labels(topic=topic, reason=ignore_reason.value)
            self.rekeyed.labels(topic=topic)
            self.input_used.labels(topic=topic)
            for stage in DEADLETTER_STAGES:
                for reason in DeadLetterReason:
                    self.deadletters.labels(topic=topic, stage=stage, reason=reason.value)

    def prime_notifier(self) -> None:
        """Create the zero series of the notifier's delivery counter."""
        for receiver_type in RECEIVER_TYPES:
            for outcome in DELIVERY_OUTCOMES:
                self.notifications.labels(receiver_type=receiver_type, outcome=outcome)

    def set_build_info(self, version: str, rules_version: str) -> None:
        """Publish the software and rules versions (one series, value 1)."""
        self.build_info.clear()
        self.build_info.labels(version=version, rules_version=rules_version).set(1)

    def export_faust(self, monitor: Any) -> None:
        """Copy faust's worker-level figures from its monitor (streams/worker/sensor.py, on a timer)."""
        self.faust_rebalances.set(monitor.rebalances)
        self.faust_assignments.labels(outcome="completed").set(monitor.assignments_completed)
        self.faust_assignments.labels(outcome="failed").set(monitor.assignments_failed)
        self.faust_send_errors.set(monitor.send_errors)
        recent = sorted(monitor.commit_latency)
        if recent:
            self.faust_commit_latency.set(recent[len(recent) // 2])

    # --- inputs -------------------------------------------------------------------------------------

    def count_input(self, topic: str, fmt: str, *, now: float | None = None, n: int = 1) -> None:
        """`n` messages arrived on `topic` in format json/hl7v2/fhir/unknown."""
        self.input_messages.labels(topic=topic, format=_closed(fmt, INPUT_FORMATS)).inc(n)
        self.last_input_timestamp.labels(topic=topic).set(time.time() if now is None else now)

    def count_ignored(
        self, topic: str, n: int = 1, reason: IgnoreReason | str = IgnoreReason.UNWATCHED
    ) -> None:
        """`n` input messages were ignored on purpose for `reason` (default: not a watched test or drug)."""
        value = reason.value if isinstance(reason, IgnoreReason) else reason
        self.ignored.labels(topic=topic, reason=_closed(value, _IGNORE_REASONS)).inc(n)

    def count_used(self, topic: str, n: int = 1) -> None:
        """`n` input messages gave the engine at least one event."""
        self.input_used.labels(topic=topic).inc(n)

    def count_deadletter(
        self, topic: str, reason: DeadLetterReason | str, *, stage: str = "ingest", n: int = 1
    ) -> None:
        """`n` dead letters for `reason` at `stage` (see DEADLETTER_STAGES) of a message of `topic`."""
        value = reason.value if isinstance(reason, DeadLetterReason) else reason
        self.deadletters.labels(
            topic=topic, stage=_closed(stage, DEADLETTER_STAGES), reason=_closed(value, _DEADLETTER_REASONS)
        ).inc(n)

    # --- alerts -------------------------------------------------------------------------------------

    def record_alert(
        self,
        event: AlertEvent,
        *,
        input_timestamp: datetime | float | None = None,
        produced_at: datetime | float | None = None,
    ) -> None:
        """Count one published alert event; with `input_timestamp`, observe its end-to-end latency."""
        self.alert_transitions.labels(
            rule=event.rule.value, event=event.event.value, severity=event.severity.value
        ).inc()
        if input_timestamp is not None:
            produced = time.time() if produced_at is None else _epoch_seconds(produced_at)
            self.observe_end_to_end(input_timestamp, produced)

    def set_open_alerts(self, counts: Mapping[tuple[RuleId, Severity], int]) -> None:
        """Set the open-alert gauge from a full count; every combination missing from `counts` reads 0."""
        for rule in RuleId:
            for severity in Severity:
                self.open_alerts.labels(rule=rule.value, severity=severity.value).set(
                    counts.get((rule, severity), 0)
                )

    # --- latency ------------------------------------------------------------------------------------

    def observe_processing(self, seconds: float) -> None:
        """Arrival at the worker -> alerts produced, in seconds."""
        self.processing_latency.observe(max(seconds, 0.0))

    def observe_end_to_end(self, input_timestamp: datetime | float, produced_at: datetime | float) -> None:
        """Input message timestamp -> alert produced; clock skew between hosts never observes < 0."""
        elapsed = _epoch_seconds(produced_at) - _epoch_seconds(input_timestamp)
        self.end_to_end_latency.observe(max(elapsed, 0.0))

    # --- consumer and state -------------------------------------------------------------------------

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Messages behind on one assigned partition."""
        self.consumer_lag.labels(topic=topic, partition=str(partition)).set(max(lag, 0))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop the lag series of a partition this process no longer owns (after a rebalance)."""
        with contextlib.suppress(KeyError):
            self.consumer_lag.remove(topic, str(partition))

    def set_state_size(self, patients: int, size_bytes: int) -> None:
        """Publish how many patients, and about how many bytes, the owned state holds."""
        self.patients_in_state.set(patients)
        self.state_bytes.set(size_bytes)

    def recovery_started(self) -> None:
        """The state table began recovering from its changelog."""
        self._recovery_started = time.monotonic()
        self.recovering.set(1)

    def recovery_finished(self) -> None:
        """Recovery is done; its duration becomes lytewatch_changelog_recovery_seconds."""
        if self._recovery_started is not None:
            self.recovery_seconds.set(time.monotonic() - self._recovery_started)
            self._recovery_started = None
        self.recovering.set(0)

    # --- notifier -----------------------------------------------------------------------------------

    def count_notification(self, receiver_type: str, outcome: str) -> None:
        """One delivery attempt of the notifier and how it ended."""
        self.notifications.labels(
            receiver_type=_closed(receiver_type, RECEIVER_TYPES),
            outcome=_closed(outcome, DELIVERY_OUTCOMES),
        ).inc()

    # --- edges: MLLP in, CDS Hooks out ----------------------------------------------------------------

    def prime_mllp(self, message_types: Iterable[str]) -> None:
        """Create the zero series of the MLLP listener; `message_types` (MSH-9 labels) close the label set."""
        self._mllp_types = frozenset(message_types) | {OTHER}
        for message_type in self._mllp_types:
            for code in MLLP_ACK_CODES:
                self.mllp_messages.labels(message_type=message_type, ack_code=code)
        for kind in MLLP_FRAME_ERRORS:
            self.mllp_frame_errors.labels(kind=kind)

    def prime_cds(self) -> None:
        """Create the zero series of the CDS Hooks service."""
        for service in CDS_SERVICES:
            for outcome in CDS_OUTCOMES:
                self.cds_requests.labels(service=service, outcome=outcome)
            for indicator in CDS_INDICATORS:
                self.cds_cards.labels(service=service, indicator=indicator)
            for feedback in CDS_FEEDBACK:
                self.cds_feedback.labels(service=service, outcome=feedback)

    def mllp_connection(self, *, opened: bool) -> None:
        if opened:
            self.mllp_connections.inc()
            self.mllp_open_connections.inc()
        else:
            self.mllp_open_connections.dec()

    def count_mllp_message(self, message_type: str, ack_code: str) -> None:
        self.mllp_messages.labels(
            message_type=_closed(message_type, self._mllp_types), ack_code=_closed(ack_code, MLLP_ACK_CODES)
        ).inc()

    def count_mllp_bytes(self, n: int) -> None:
        self.mllp_bytes.inc(n)

    def count_mllp_frame_error(self, kind: str) -> None:
        self.mllp_frame_errors.labels(kind=_closed(kind, MLLP_FRAME_ERRORS)).inc()

    def observe_mllp_write(self, seconds: float) -> None:
        self.mllp_write_latency.observe(seconds)

    def count_cds_request(self, service: str, outcome: str) -> None:
        self.cds_requests.labels(
            service=_closed(service, CDS_SERVICES), outcome=_closed(outcome, CDS_OUTCOMES)
        ).inc()

    def count_cds_card(self, service: str, indicator: str) -> None:
        self.cds_cards.labels(
            service=_closed(service, CDS_SERVICES), indicator=_closed(indicator, CDS_INDICATORS)
        ).inc()

    def count_cds_feedback(self, service: str, outcome: str, n: int = 1) -> None:
        self.cds_feedback.labels(
            service=_closed(service, CDS_SERVICES), outcome=_closed(outcome, CDS_FEEDBACK)
        ).inc(n)

    # --- exposition ---------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The registry in the Prometheus text format (what /metrics serves)."""
        return _generate_latest(self.registry)


#: One burden window as the dashboard computes it: {"window", "patient_days", "by_rule_and_severity":
#: [{"rule", "severity", "per_100_patient_days"}], "acknowledged_within_15_min_share"} (see web/burden.py).
BurdenSource = Callable[[], Iterable[Mapping[str, Any]]]


class BurdenCollector(Collector):
    """The dashboard's alert-burden figures for Grafana, computed from its alert book at each scrape.

    lytewatch_dashboard_alerts_per_100_patient_days{window,rule,severity},
    lytewatch_dashboard_acknowledged_within_15min_ratio{window} (absent while nothing can be measured) and
    lytewatch_dashboard_patient_days{window}. Labels are closed sets: windows 24h/7d, rule ids, severities.
    """

    def __init__(self, source: BurdenSource) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        rates = GaugeMetricFamily(
            "lytewatch_dashboard_alerts_per_100_patient_days",
            "Alerts opened in the window per 100 patient-days with input, by rule and highest severity",
            labels=["window", "rule", "severity"],
        )
        acked = GaugeMetricFamily(
            "lytewatch_dashboard_acknowledged_within_15min_ratio",
            "Share of the window's alerts acknowledged within 15 min of opening (of those that could be)",
            labels=["window"],
        )
        days = GaugeMetricFamily(
            "lytewatch_dashboard_patient_days", "Patient-days with input in the window", labels=["window"]
        )
        rules = {r.value for r in RuleId}
        severities = {s.value for s in Severity}
        for figures in self._source():
            window = str(figures["window"])
            days.add_metric([window], float(figures["patient_days"]))
            for row in figures["by_rule_and_severity"]:
                rule, severity = _closed(row["rule"], rules), _closed(row["severity"], severities)
                rates.add_metric([window, rule, severity], float(row["per_100_patient_days"]))
            share = figures["acknowledged_within_15_min_share"]
            if share is not None:
                acked.add_metric([window], float(share))
        yield rates
        yield acked
        yield days
