"""What the worker's /metrics shows: names, label sets, bounded label values, and no patient ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from alerts.errors import DeadLetterReason, IgnoreReason
from alerts.models import AlertEvent, AlertEventKind, RuleId, Severity
from streams.metrics import LATENCY_BUCKETS, OTHER, Metrics

from .conftest import Samples

MakeAlert = Callable[..., AlertEvent]
Scrape = Callable[[Metrics], Samples]

CONTRACT_NAMES = {
    "lytewatch_input_messages_total",
    "lytewatch_ignored_total",
    "lytewatch_deadletter_total",
    "lytewatch_alert_transitions_total",
    "lytewatch_open_alerts",
    "lytewatch_patients_in_state",
    "lytewatch_state_bytes",
    "lytewatch_processing_latency_seconds_bucket",
    "lytewatch_end_to_end_latency_seconds_bucket",
    "lytewatch_consumer_lag",
    "lytewatch_changelog_recovery_seconds",
    "lytewatch_last_input_timestamp_seconds",
    "lytewatch_build_info",
    "lytewatch_notifications_total",
}


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def test_every_contract_metric_is_exposed_once_used(
    make_metrics: Callable[[], Metrics], make_alert: MakeAlert, scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.prime_topics(["labs.results"])
    metrics.prime_notifier()
    metrics.set_build_info("0.1.0", "2026.1")
    metrics.count_input("labs.results", "hl7v2")
    metrics.record_alert(make_alert(), input_timestamp=0.0, produced_at=0.2)
    metrics.observe_processing(0.004)
    metrics.set_consumer_lag("labs.results", 0, 12)
    metrics.set_state_size(patients=3, size_bytes=4096)
    metrics.recovery_started()
    metrics.recovery_finished()

    assert _names(scrape(metrics)) >= CONTRACT_NAMES


def test_two_instances_on_fresh_registries_do_not_share_counts(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    first, second = make_metrics(), make_metrics()
    first.count_input("labs.results", "json")

    assert _value(scrape(first), "lytewatch_input_messages_total", topic="labs.results", format="json") == 1
    assert (
        "lytewatch_input_messages_total",
        frozenset({("topic", "labs.results"), ("format", "json")}),
    ) not in (scrape(second))


def test_primed_series_read_zero_before_any_traffic(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.prime_topics(["labs.results", "meds.orders"])
    samples = scrape(metrics)

    assert _value(samples, "lytewatch_ignored_total", topic="meds.orders", reason="unwatched") == 0
    assert _value(samples, "lytewatch_ignored_total", topic="labs.results", reason="unknown_code_system") == 0
    assert (
        _value(
            samples, "lytewatch_deadletter_total", topic="labs.results", stage="ingest", reason="unknown_unit"
        )
        == 0
    )
    assert _value(samples, "lytewatch_open_alerts", rule="KMG_COMBINED", severity="critical") == 0
    assert (
        _value(
            samples,
            "lytewatch_alert_transitions_total",
            rule="KMG_CHECK_MG",
            event="fired",
            severity="advisory",
        )
        == 0
    )


def test_input_counts_by_topic_and_format_and_stamps_last_arrival(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.count_input("labs.results", "json", now=1_700_000_000.0)
    metrics.count_input("labs.results", "json", now=1_700_000_005.0)
    metrics.count_input("labs.results", "fhir", now=1_700_000_009.0)
    samples = scrape(metrics)

    assert _value(samples, "lytewatch_input_messages_total", topic="labs.results", format="json") == 2
    assert _value(samples, "lytewatch_input_messages_total", topic="labs.results", format="fhir") == 1
    assert _value(samples, "lytewatch_last_input_timestamp_seconds", topic="labs.results") == 1_700_000_009.0


def test_bullet5_ignored_input_counts_by_reason_and_an_unknown_code_system_has_its_own(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.count_ignored("labs.results", 3)
    metrics.count_ignored("labs.results", 1, IgnoreReason.UNKNOWN_CODE_SYSTEM)
    metrics.count_ignored("labs.results", 1, "a reason nobody declared")
    samples = scrape(metrics)

    assert _value(samples, "lytewatch_ignored_total", topic="labs.results", reason="unwatched") == 3
    assert _value(samples, "lytewatch_ignored_total", topic="labs.results", reason="unknown_code_system") == 1
    assert _value(samples, "lytewatch_ignored_total", topic="labs.results", reason=OTHER) == 1


def test_deadletters_count_by_reason(make_metrics: Callable[[], Metrics], scrape: Scrape) -> None:
    metrics = make_metrics()
    metrics.count_deadletter("labs.results", DeadLetterReason.UNKNOWN_UNIT)
    metrics.count_deadletter("labs.results", "unknown_unit")
    metrics.count_deadletter("labs.results", DeadLetterReason.NOT_JSON)
    samples = scrape(metrics)

    assert (
        _value(
            samples, "lytewatch_deadletter_total", topic="labs.results", stage="ingest", reason="unknown_unit"
        )
        == 2
    )
    assert (
        _value(samples, "lytewatch_deadletter_total", topic="labs.results", stage="ingest", reason="not_json")
        == 1
    )


def test_free_text_in_a_closed_label_is_reported_as_other(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.count_input("labs.results", "csv")
    metrics.count_deadletter("labs.results", "value 'hemolyzed' for MRN77")
    metrics.count_notification("sms-to-dr-house", "exploded")
    samples = scrape(metrics)

    assert _value(samples, "lytewatch_input_messages_total", topic="labs.results", format=OTHER) == 1
    assert (
        _value(samples, "lytewatch_deadletter_total", topic="labs.results", stage="ingest", reason=OTHER) == 1
    )
    assert _value(samples, "lytewatch_notifications_total", receiver_type=OTHER, outcome=OTHER) == 1


def test_alert_transitions_count_by_rule_event_and_severity(
    make_metrics: Callable[[], Metrics], make_alert: MakeAlert, scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.record_alert(make_alert())
    metrics.record_alert(make_alert(revision=2, event=AlertEventKind.ESCALATED, severity=Severity.CRITICAL))
    metrics.record_alert(make_alert(alert_id="kmg-0002", patient_id="MRN0002"))
    samples = scrape(metrics)

    name = "lytewatch_alert_transitions_total"
    assert _value(samples, name, rule="KMG_COMBINED", event="fired", severity="high") == 2
    assert _value(samples, name, rule="KMG_COMBINED", event="escalated", severity="critical") == 1


def test_open_alerts_are_replaced_by_each_full_count(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.set_open_alerts(
        {(RuleId.KMG_COMBINED, Severity.HIGH): 3, (RuleId.KMG_CHECK_MG, Severity.ADVISORY): 1}
    )
    metrics.set_open_alerts({(RuleId.KMG_COMBINED, Severity.CRITICAL): 1})
    samples = scrape(metrics)

    assert _value(samples, "lytewatch_open_alerts", rule="KMG_COMBINED", severity="high") == 0
    assert _value(samples, "lytewatch_open_alerts", rule="KMG_CHECK_MG", severity="advisory") == 0
    assert _value(samples, "lytewatch_open_alerts", rule="KMG_COMBINED", severity="critical") == 1


def test_end_to_end_latency_from_input_timestamp(
    make_metrics: Callable[[], Metrics], make_alert: MakeAlert, scrape: Scrape
) -> None:
    metrics = make_metrics()
    sent = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
    metrics.record_alert(make_alert(), input_timestamp=sent, produced_at=sent + timedelta(milliseconds=30))
    samples = scrape(metrics)

    name = "lytewatch_end_to_end_latency_seconds_bucket"
    assert _value(samples, name, le="0.025") == 0
    assert _value(samples, name, le="0.05") == 1
    assert _value(samples, "lytewatch_end_to_end_latency_seconds_sum") == pytest.approx(0.03)


def test_clock_skew_never_observes_negative_latency(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.observe_end_to_end(input_timestamp=100.5, produced_at=100.0)
    samples = scrape(metrics)

    assert _value(samples, "lytewatch_end_to_end_latency_seconds_sum") == 0
    assert _value(samples, "lytewatch_end_to_end_latency_seconds_bucket", le="0.001") == 1


def test_latency_buckets_span_one_millisecond_to_ten_seconds(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.observe_processing(0.0005)
    samples = scrape(metrics)
    buckets = {
        dict(labels)["le"]
        for name, labels in samples
        if name == "lytewatch_processing_latency_seconds_bucket"
    }

    assert min(LATENCY_BUCKETS) == 0.001
    assert max(LATENCY_BUCKETS) == 10.0
    assert buckets == {str(float(b)) for b in LATENCY_BUCKETS} | {"+Inf"}


def test_build_info_shows_only_the_current_versions(
    make_metrics: Callable[[], Metrics], scrape: Scrape
) -> None:
    metrics = make_metrics()
    metrics.set_build_info("0.1.0", "2026.1")
    metrics.set_build_info("0.1.0", "2026.2")
    series = {labels for name, labels in scrape(metrics) if name == "lytewatch_build_info"}

    assert series == {frozenset({("version", "0.1.0"), ("rules_version", "2026.2")})}


def test_lag_of_a_revoked_partition_disappears(make_metrics: Callable[[], Metrics], scrape: Scrape) -> None:
    metrics = make_metrics()
    metrics.set_consumer_lag("lytewatch.patient-events", 0, 5)
    metrics.set_consumer_lag("lytewatch.patient-events", 1, 7)
    metrics.forget_partition("lytewatch.patient-events", 0)
    metrics.forget_partition("lytewatch.patient-events", 9)
    lag = {
        dict(labels)["partition"]: v
        for (name, labels), v in scrape(metrics).items()
        if name == "lytewatch_consumer_lag"
    }

    assert lag == {"1": 7}


def test_recovery_gauges_track_a_recovery(make_metrics: Callable[[], Metrics], scrape: Scrape) -> None:
    metrics = make_metrics()
    metrics.recovery_started()
    during = scrape(metrics)
    metrics.recovery_finished()
    after = scrape(metrics)

    assert _value(during, "lytewatch_changelog_recovering") == 1
    assert _value(after, "lytewatch_changelog_recovering") == 0
    assert _value(after, "lytewatch_changelog_recovery_seconds") > 0


def test_no_label_value_is_a_patient_or_encounter_id(
    make_metrics: Callable[[], Metrics], make_alert: MakeAlert, scrape: Scrape
) -> None:
    patients = [f"MRN{n:04d}" for n in range(1, 6)]
    encounters = [f"E{n:03d}" for n in range(1, 6)]
    metrics = make_metrics()
    metrics.prime_topics(["labs.results", "meds.orders"])
    for n, (patient, encounter) in enumerate(zip(patients, encounters, strict=True)):
        metrics.count_input("labs.results", "json")
        # A caller mistake: the patient id handed over where a format or reason belongs.
        metrics.count_input("labs.results", patient)
        metrics.count_deadletter("labs.results", patient)
        metrics.count_notification(patient, encounter)
        for kind in AlertEventKind:
            metrics.record_alert(
                make_alert(
                    alert_id=f"kmg-{patient}",
                    patient_id=patient,
                    encounter_id=encounter,
                    event=kind,
                    revision=n + 1,
                    acknowledged_by=patient if kind is AlertEventKind.ACKNOWLEDGED else None,
                ),
                input_timestamp=0.0,
                produced_at=0.01,
            )
    label_values = {value for _, labels in scrape(metrics) for _, value in labels}

    assert label_values  # the scrape did carry labelled series
    identifiers = set(patients) | set(encounters) | {f"kmg-{p}" for p in patients}
    assert not {v for v in label_values if any(i in v for i in identifiers)}
