"""The topic registry is the one source of topic facts: settings, `topics create` and replay agree with it."""

from __future__ import annotations

from streams.codecs import DEFAULT_TOPIC_KINDS
from streams.settings import Settings, load_settings
from streams.topic_registry import INPUT_TOPICS, TOPICS
from streams.topics import topic_specs

DAY_MS = 24 * 3600 * 1000


def test_every_topic_setting_is_in_the_registry_with_its_default() -> None:
    settings = load_settings({})
    topic_fields = {name for name in Settings.model_fields if name.startswith("topic_")}
    assert topic_fields == {topic.setting for topic in TOPICS}
    for topic in TOPICS:
        assert getattr(settings, topic.setting) == topic.default, topic.kind


def test_topics_create_makes_the_events_md_topics_with_their_retention() -> None:
    specs = topic_specs(load_settings({"LYTEWATCH_INPUT_RETENTION_DAYS": "2", "LYTEWATCH_PARTITIONS": "3"}))
    assert [(s.name, s.partitions, s.config) for s in specs] == [
        ("labs.results", 3, {"retention.ms": str(2 * DAY_MS)}),
        ("meds.orders", 3, {"retention.ms": str(2 * DAY_MS)}),
        ("adt.events", 3, {"retention.ms": str(2 * DAY_MS)}),
        ("alerts.acks", 3, {"retention.ms": str(2 * DAY_MS)}),
        ("lytewatch.patient-events", 3, {"retention.ms": str(2 * DAY_MS)}),
        ("alerts.electrolyte", 3, {"retention.ms": str(30 * DAY_MS)}),
        ("ingest.deadletter", 3, {"retention.ms": str(30 * DAY_MS)}),
        ("notify.deadletter", 3, {"retention.ms": str(30 * DAY_MS)}),
        ("cds.feedback", 3, {"retention.ms": str(30 * DAY_MS)}),
        ("notify.delivery-log", 3, {"cleanup.policy": "compact"}),
    ]


def test_a_renamed_topic_is_renamed_everywhere_it_is_derived() -> None:
    settings = load_settings({"LYTEWATCH_TOPIC_LABS": "site1.labs"})
    assert settings.input_topics["labs"] == "site1.labs"
    assert topic_specs(settings)[0].name == "site1.labs"
    # Replay files and feeds keep naming inputs by their EVENTS.md names, whatever the deployment calls them.
    assert {topic.default: kind for kind, topic in INPUT_TOPICS.items()} == DEFAULT_TOPIC_KINDS
    assert DEFAULT_TOPIC_KINDS["labs.results"] == "labs"
