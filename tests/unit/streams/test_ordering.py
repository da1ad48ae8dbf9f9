"""The partition group applies buffered records in record-timestamp order across topics, waiting (bounded)
for a topic that may still deliver earlier records, never for one known to be caught up."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.worker.ordering import PartitionGroup

TOPICS = ("adt", "orders", "labs", "acks", "internal")


@pytest.fixture
def make_group() -> Callable[..., PartitionGroup[str]]:
    def make(idle_s: float = 1.0) -> PartitionGroup[str]:
        return PartitionGroup(TOPICS, idle_s)

    return make


def everything_caught_up(topic: str) -> bool:
    return True


def nothing_caught_up(topic: str) -> bool:
    return False


def drain(group: PartitionGroup[str], now: float = 0.0) -> list[str]:
    out = []
    while (entry := group.pop(now, everything_caught_up)) is not None:
        out.append(entry.item)
    return out


def test_the_sparse_topic_that_runs_ahead_waits_for_the_earlier_records_of_the_others(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    group = make_group()
    # adt drains first in a backlog: its discharge of day 13 must come after the order and lab of day 7.
    group.add("adt", 13_000, 0, "discharge day 13")
    group.add("orders", 7_000, 0, "thiazide day 7")
    group.add("labs", 7_500, 0, "K 2.7 day 7")
    group.add("labs", 7_600, 1, "Mg 0.67 day 7")
    assert drain(group) == ["thiazide day 7", "K 2.7 day 7", "Mg 0.67 day 7", "discharge day 13"]


def test_equal_timestamps_follow_the_topic_order_then_offsets(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    group = make_group()
    group.add("internal", 5, 0, "re-keyed")
    group.add("labs", 5, 3, "lab 3")
    group.add("labs", 5, 4, "lab 4")
    group.add("acks", 5, 0, "ack")
    group.add("adt", 5, 9, "admit")
    group.add("orders", 5, 1, "order")
    assert drain(group) == ["admit", "order", "lab 3", "lab 4", "ack", "re-keyed"]


def test_a_topic_that_may_still_deliver_holds_the_group_back_up_to_the_idle_time(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    group = make_group(idle_s=0.5)
    group.add("labs", 100, 0, "lab")
    assert group.pop(10.0, nothing_caught_up) is None
    assert group.pop(10.4, nothing_caught_up) is None
    assert group.enforced == 0
    entry = group.pop(10.5, nothing_caught_up)
    assert entry is not None and entry.item == "lab"
    assert group.enforced == 1, "going on without a lagging topic is counted"


def test_a_topic_known_to_be_caught_up_never_holds_the_group_back(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    group = make_group(idle_s=60.0)
    group.add("labs", 100, 0, "lab")
    entry = group.pop(0.0, lambda topic: topic != "labs")
    assert entry is not None and entry.item == "lab"
    assert group.enforced == 0


def test_a_topic_known_to_hold_earlier_records_holds_the_group_back_past_the_idle_time(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    """After a broker outage the idle time has run out for every empty topic; the first topic fetched again
    must not run ahead of one whose records are known to be on the broker (Kafka Streams, KIP-695)."""
    group = make_group(idle_s=0.5)
    group.add("labs", 100, 0, "lab")
    assert group.pop(10.0, nothing_caught_up, behind=lambda topic: topic == "orders") is None
    assert group.pop(99.0, nothing_caught_up, behind=lambda topic: topic == "orders") is None
    group.add("orders", 50, 0, "order")
    assert drain(group) == ["order", "lab"]
    assert group.enforced == 0


def test_the_idle_clock_restarts_once_the_topic_delivered(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    group = make_group(idle_s=1.0)
    lagging = {"adt"}

    def caught_up(topic: str) -> bool:
        return topic not in lagging

    group.add("labs", 10, 0, "lab 0")
    assert group.pop(0.0, caught_up) is None
    assert group.pop(0.9, caught_up) is None
    group.add("adt", 5, 0, "admit")
    first = group.pop(0.9, caught_up)
    assert first is not None and first.item == "admit"
    # adt is empty again and may still deliver: a new wait of a whole idle time starts now.
    assert group.pop(0.9, caught_up) is None
    assert group.pop(1.85, caught_up) is None
    second = group.pop(2.0, caught_up)
    assert second is not None and second.item == "lab 0"
    assert group.enforced == 1


def test_a_record_without_a_timestamp_never_jumps_ahead_of_its_topic(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    group = make_group()
    group.add("labs", 50, 0, "lab 0")
    group.add("labs", None, 1, "lab 1, no timestamp")
    group.add("orders", 40, 0, "order")
    assert drain(group) == ["order", "lab 0", "lab 1, no timestamp"]


def test_clear_drops_everything_and_reports_it(make_group: Callable[..., PartitionGroup[str]]) -> None:
    group = make_group()
    group.add("labs", 1, 0, "a")
    group.add("adt", 2, 0, "b")
    assert sorted(e.item for e in group.clear()) == ["a", "b"]
    assert len(group) == 0
    assert group.pop(0.0, everything_caught_up) is None


@given(
    st.lists(
        st.tuples(st.sampled_from(TOPICS), st.integers(min_value=0, max_value=50)), min_size=1, max_size=60
    )
)
def test_with_every_topic_buffered_the_output_is_sorted_by_timestamp_rank_offset(
    records: list[tuple[str, int]],
) -> None:
    group: PartitionGroup[tuple[int, int, int]] = PartitionGroup(TOPICS, 1.0)
    offsets = dict.fromkeys(TOPICS, 0)
    last = dict.fromkeys(TOPICS, 0)
    expected = []
    for topic, step in records:
        # Timestamps grow within a topic, as CreateTime does for one producer.
        last[topic] += step
        key = (last[topic], TOPICS.index(topic), offsets[topic])
        group.add(topic, last[topic], offsets[topic], key)
        expected.append(key)
        offsets[topic] += 1
    out = []
    while (entry := group.pop(0.0, everything_caught_up)) is not None:
        out.append(entry.item)
    assert out == sorted(expected)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(TOPICS), st.integers(min_value=0, max_value=50), st.sampled_from(TOPICS[:3])
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_a_run_of_records_is_what_popping_them_one_by_one_gives(
    records: list[tuple[str, int, str]], limit: int
) -> None:
    """Also when some topics may still deliver: a run stops where single pops would start to wait."""
    groups = [PartitionGroup[tuple[int, int, int]](TOPICS, 1.0) for _ in range(2)]
    lagging = {lag for _, _, lag in records[:1]}

    def caught_up(topic: str) -> bool:
        return topic not in lagging

    last = dict.fromkeys(TOPICS, 0)
    for offset, (topic, step, _) in enumerate(records):
        last[topic] += step
        for group in groups:
            group.add(topic, last[topic], offset, (last[topic], TOPICS.index(topic), offset))
    by_run, one_by_one = groups
    runs = []
    while run := by_run.pop_run(0.0, caught_up, limit=limit):
        assert len(run) <= limit
        runs.extend(entry.item for entry in run)
    singles = []
    while (entry := one_by_one.pop(0.0, caught_up)) is not None:
        singles.append(entry.item)
    assert runs == singles
    assert len(by_run) == len(one_by_one)


def test_a_run_stops_where_a_topic_that_may_still_deliver_runs_empty(
    make_group: Callable[..., PartitionGroup[str]],
) -> None:
    group = make_group(idle_s=60.0)
    group.add("orders", 10, 0, "order")
    group.add("labs", 20, 0, "lab 0")
    group.add("labs", 30, 1, "lab 1")
    # orders may deliver more: once its one record is applied, the labs after it must wait.
    run = group.pop_run(0.0, lambda topic: topic not in {"orders", "labs"}, limit=10)
    assert [entry.item for entry in run] == ["order"]
    assert len(group) == 2
