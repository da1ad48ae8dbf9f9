"""The worker runs the one-hop engine only when every input topic is co-partitioned with the patient table."""

from __future__ import annotations

from streams.settings import load_settings
from streams.worker.copartition import changelog_topic, engine_path

SETTINGS = load_settings({"LYTEWATCH_PARTITIONS": "6", "LYTEWATCH_APP_ID": "ward"})
INPUTS = ["labs.results", "meds.orders", "adt.events", "alerts.acks", "lytewatch.patient-events"]


def test_same_partition_counts_give_the_one_hop_path() -> None:
    path = engine_path(SETTINGS, {name: 6 for name in INPUTS})
    assert path.one_hop
    assert "one hop" in path.detail


def test_a_changelog_not_created_yet_is_fine_one_created_with_other_counts_is_not() -> None:
    counts = {name: 6 for name in INPUTS}
    assert engine_path(SETTINGS, {**counts, changelog_topic(SETTINGS): 6}).one_hop
    path = engine_path(SETTINGS, {**counts, "ward-patients-changelog": 3})
    assert not path.one_hop
    assert "ward-patients-changelog has 3" in path.detail


def test_an_input_topic_with_other_partitions_falls_back_to_the_rekey_path_and_says_which() -> None:
    path = engine_path(SETTINGS, {**{name: 6 for name in INPUTS}, "labs.results": 12})
    assert not path.one_hop
    assert "labs.results has 12" in path.detail
    assert "LYTEWATCH_PARTITIONS" in path.detail
    assert "lytewatch.patient-events" in path.detail


def test_a_missing_input_topic_falls_back() -> None:
    counts = {name: 6 for name in INPUTS if name != "alerts.acks"}
    assert not engine_path(SETTINGS, counts).one_hop
