"""The one table of Kafka topics: kind, default name, setting, partitions, retention, readers, writers.

Settings defaults, `lytewatch topics create`, replay files, the feeds and the benchmark all derive from it.
A leaf module (no lytewatch imports) so that settings and codecs can read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

InputKind = Literal["labs", "orders", "adt", "acks"]
#: How long a topic keeps its records: the input retention, the (longer) dead-letter retention, or compaction.
Retention = Literal["input", "kept_long", "compacted"]


@dataclass(frozen=True, slots=True)
class Topic:
    """One topic: `setting` is the Settings field (LYTEWATCH_<SETTING>) that renames it."""

    kind: str
    default: str
    setting: str
    retention: Retention
    purpose: str
    writers: str
    readers: str
    #: None: LYTEWATCH_PARTITIONS, like every topic today.
    partitions: int | None = None


# Order is the order `lytewatch topics create` reports them in.
TOPICS: Final[tuple[Topic, ...]] = (
    Topic("labs", "labs.results", "topic_labs", "input", "input: lab results",
          "lab system, feeds", "worker engine"),
    Topic("orders", "meds.orders", "topic_orders", "input", "input: medication order events",
          "pharmacy system, feeds", "worker engine"),
    Topic("adt", "adt.events", "topic_adt", "input", "input: admissions, transfers, discharges",
          "ADT system, feeds", "worker engine"),
    Topic("acks", "alerts.acks", "topic_acks", "input", "input: acknowledgements",
          "dashboard, clinical systems", "worker engine"),
    Topic("patient-events", "lytewatch.patient-events", "topic_patient_events", "input",
          "internal: normalised events keyed by patient", "worker engine (re-keying), worker sweep",
          "worker engine"),
    # The dashboard rebuilds its view from this topic, so it is kept as long as dead letters.
    Topic("alerts", "alerts.electrolyte", "topic_alerts", "kept_long", "output: alert lifecycle events",
          "worker engine", "dashboard, notifier, any subscriber"),
    Topic("deadletter", "ingest.deadletter", "topic_deadletter", "kept_long",
          "output: unusable input with a reason", "worker ingest and engine", "operators"),
    Topic("notify-deadletter", "notify.deadletter", "topic_notifier_deadletter", "kept_long",
          "output: notifications that failed for good", "notifier", "operators"),
    # Clinicians' accept/override answers to CDS Hooks cards: the alert-burden record, kept long.
    Topic("cds-feedback", "cds.feedback", "topic_cds_feedback", "kept_long",
          "output: CDS Hooks card feedback", "worker (CDS Hooks)", "quality and alert-burden reviews"),
    Topic("notify-log", "notify.delivery-log", "topic_notifier_log", "compacted",
          "internal: what the notifier has delivered (compacted)", "notifier", "notifier (at start)"),
)  # fmt: skip

TOPIC_BY_KIND: Final = {topic.kind: topic for topic in TOPICS}

#: The four input topics, by input kind.
INPUT_TOPICS: Final[dict[InputKind, Topic]] = {
    "labs": TOPIC_BY_KIND["labs"],
    "orders": TOPIC_BY_KIND["orders"],
    "adt": TOPIC_BY_KIND["adt"],
    "acks": TOPIC_BY_KIND["acks"],
}

#: Input kind of each input topic by its EVENTS.md (default) name, as replay files and feeds name them.
DEFAULT_TOPIC_KINDS: Final[dict[str, InputKind]] = {
    topic.default: kind for kind, topic in INPUT_TOPICS.items()
}


def default_name(setting: str) -> str:
    """The default topic name of a Settings field (`topic_labs` -> `labs.results`)."""
    for topic in TOPICS:
        if topic.setting == setting:
            return topic.default
    raise KeyError(setting)
