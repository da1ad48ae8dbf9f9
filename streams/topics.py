"""Every Kafka topic lytewatch uses, with its configuration, and their idempotent creation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka import admin_client
from streams.settings import Settings

log = logging.getLogger(__name__)

_DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    purpose: str
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The topics of EVENTS.md plus lytewatch's internal ones (faust creates its own changelog topics)."""
    inputs = {"retention.ms": str(int(settings.input_retention_days * _DAY_MS))}
    kept_long = {"retention.ms": str(int(settings.deadletter_retention_days * _DAY_MS))}
    n = settings.partitions
    return [
        TopicSpec(settings.topic_labs, n, "input: lab results", inputs),
        TopicSpec(settings.topic_orders, n, "input: medication order events", inputs),
        TopicSpec(settings.topic_adt, n, "input: admissions, transfers, discharges", inputs),
        TopicSpec(settings.topic_acks, n, "input: acknowledgements", inputs),
        TopicSpec(settings.topic_patient_events, n, "internal: normalised events keyed by patient", inputs),
        # The dashboard rebuilds its view from this topic, so it is kept as long as dead letters.
        TopicSpec(settings.topic_alerts, n, "output: alert lifecycle events", kept_long),
        TopicSpec(settings.topic_deadletter, n, "output: unusable input with a reason", kept_long),
        TopicSpec(
            settings.topic_notifier_deadletter, n, "output: notifications that failed for good", kept_long
        ),
        # Clinicians' accept/override answers to CDS Hooks cards: the alert-burden record, kept long.
        TopicSpec(settings.topic_cds_feedback, n, "output: CDS Hooks card feedback", kept_long),
        TopicSpec(
            settings.topic_notifier_log,
            n,
            "internal: what the notifier has delivered (compacted)",
            {"cleanup.policy": "compact"},
        ),
    ]


async def ensure_topics(settings: Settings) -> list[tuple[TopicSpec, str]]:
    """Create missing topics; return each spec with "created" or "exists (N partitions)"."""
    admin: AIOKafkaAdminClient = admin_client(settings)
    await admin.start()
    try:
        existing = await _partition_counts(admin)
        report: list[tuple[TopicSpec, str]] = []
        for spec in topic_specs(settings):
            if spec.name in existing:
                report.append((spec, f"exists ({existing[spec.name]} partitions)"))
                continue
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.config)]
                )
                report.append((spec, "created"))
            except TopicAlreadyExistsError:
                # Another process created it between our listing and our request.
                report.append((spec, "exists"))
        return report
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient) -> dict[str, int]:
    names = await admin.list_topics()
    if not names:
        return {}
    described = await admin.describe_topics(list(names))
    return {d["topic"]: len(d.get("partitions", [])) for d in described}
