"""Unit tests of the alert book: idempotent application, ordering, filters, history and resumption."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.models import AlertEventKind, ResolveReason, RuleId, Severity
from streams.web.alert_book import AlertBook, AlertFilter
from tests.unit.web.conftest import T0, MakeEvent


def test_a_fired_alert_is_open_with_its_opening_time(make_event: MakeEvent) -> None:
    book = AlertBook()
    transition = book.apply(make_event())
    assert transition is not None
    assert transition.seq == 1
    assert transition.before is None
    [view] = book.open_alerts()
    assert view.alert_id == "kmg-1"
    assert view.open
    assert view.opened_at == T0 + timedelta(seconds=1)
    assert view.seq == 1


def test_redelivered_revision_changes_nothing(make_event: MakeEvent) -> None:
    book = AlertBook()
    assert book.apply(make_event()) is not None
    assert book.apply(make_event()) is None
    assert book.last_seq == 1
    record = book.get("kmg-1")
    assert record is not None
    assert [h.seq for h in record.history] == [1]


def test_an_older_revision_arriving_late_does_not_roll_the_alert_back(make_event: MakeEvent) -> None:
    book = AlertBook()
    book.apply(make_event(revision=1))
    book.apply(make_event(revision=3, event="escalated", severity="critical"))
    assert book.apply(make_event(revision=2, event="updated", severity="moderate")) is None
    [view] = book.open_alerts()
    assert view.severity is Severity.CRITICAL
    assert view.revision == 3


def test_sequence_numbers_grow_by_one_per_applied_transition_from_the_base(make_event: MakeEvent) -> None:
    book = AlertBook(first_seq=1000)
    assert book.last_seq == 999
    seqs = []
    for revision, kind in enumerate(["fired", "updated", "updated"], start=1):
        t = book.apply(make_event(revision=revision, event=kind))
        assert t is not None
        seqs.append(t.seq)
        book.apply(make_event(revision=revision, event=kind))  # a duplicate takes no number
    assert seqs == [1000, 1001, 1002]


def test_resolved_alert_leaves_the_open_list_but_keeps_its_history(make_event: MakeEvent) -> None:
    book = AlertBook()
    book.apply(make_event(revision=1))
    book.apply(make_event(revision=2, event="acknowledged", acknowledged_by="nurse.a"))
    book.apply(make_event(revision=3, event="resolved"))
    assert book.open_alerts() == []
    record = book.get("kmg-1")
    assert record is not None
    assert not record.view.open
    assert record.view.reason is ResolveReason.NORMALIZED
    assert [h.event.event for h in record.history] == [
        AlertEventKind.FIRED,
        AlertEventKind.ACKNOWLEDGED,
        AlertEventKind.RESOLVED,
    ]


def test_acknowledgement_time_is_kept_while_the_same_person_stays_acknowledged(make_event: MakeEvent) -> None:
    book = AlertBook()
    book.apply(make_event(revision=1))
    book.apply(make_event(revision=2, event="acknowledged", acknowledged_by="nurse.a", minutes=5))
    book.apply(make_event(revision=3, event="updated", acknowledged_by="nurse.a", minutes=9))
    [view] = book.open_alerts()
    assert view.acknowledged_by == "nurse.a"
    assert view.acknowledged_at == T0 + timedelta(minutes=5, seconds=1)
    assert view.opened_at == T0 + timedelta(seconds=1)


def test_open_alerts_are_ordered_by_severity_then_longest_open(make_event: MakeEvent) -> None:
    book = AlertBook()
    book.apply(make_event("a", severity="moderate", minutes=0))
    book.apply(make_event("b", severity="critical", minutes=10))
    book.apply(make_event("c", severity="critical", minutes=5))
    book.apply(make_event("d", severity="advisory", rule="KMG_CHECK_MG", minutes=1))
    assert [v.alert_id for v in book.open_alerts()] == ["c", "b", "a", "d"]


def test_filters_by_unit_min_severity_and_rule(make_event: MakeEvent) -> None:
    book = AlertBook()
    book.apply(make_event("a", severity="high", unit="4W"))
    book.apply(make_event("b", severity="moderate", unit="5E"))
    book.apply(make_event("c", severity="advisory", rule="KMG_CHECK_MG", unit="4W"))
    book.apply(make_event("d", severity="critical", unit=None))

    def ids(flt: AlertFilter) -> list[str]:
        return sorted(v.alert_id for v in book.open_alerts(flt))

    assert ids(AlertFilter(unit="4w")) == ["a", "c"]
    assert ids(AlertFilter(min_severity=Severity.HIGH)) == ["a", "d"]
    assert ids(AlertFilter(rule=RuleId.KMG_CHECK_MG)) == ["c"]
    assert ids(AlertFilter(unit="4W", min_severity=Severity.MODERATE)) == ["a"]
    assert ids(AlertFilter()) == ["a", "b", "c", "d"]


def test_replay_after_a_seen_id_gives_exactly_the_later_transitions(make_event: MakeEvent) -> None:
    book = AlertBook(first_seq=50)
    for i in range(5):
        book.apply(make_event(f"a{i}"))
    replay = book.transitions_after(52)
    assert replay is not None
    assert [t.seq for t in replay] == [53, 54]
    assert book.transitions_after(54) == []
    everything = book.transitions_after(49)
    assert everything is not None
    assert [t.seq for t in everything] == [50, 51, 52, 53, 54]


def test_replay_refuses_foreign_or_evicted_ids(make_event: MakeEvent) -> None:
    book = AlertBook(first_seq=100, max_log=3)
    for i in range(6):
        book.apply(make_event(f"a{i}"))
    # seqs 100..105; the log holds 103..105.
    assert book.transitions_after(7) is None, "an id from an earlier run of the process"
    assert book.transitions_after(106) is None, "an id from the future"
    assert book.transitions_after(101) is None, "102 has left the log: replaying would leave a gap"
    replay = book.transitions_after(102)
    assert replay is not None
    assert [t.seq for t in replay] == [103, 104, 105]


def test_filtered_replay_includes_an_alert_leaving_the_filter(make_event: MakeEvent) -> None:
    book = AlertBook()
    book.apply(make_event("a", severity="critical"))
    book.apply(make_event("b", severity="moderate"))
    book.apply(make_event("a", revision=2, event="updated", severity="high"))
    book.apply(make_event("b", revision=2, event="updated", severity="moderate"))
    critical = AlertFilter(min_severity=Severity.CRITICAL)
    replay = book.transitions_after(0, critical)
    assert replay is not None
    # The client showing critical alerts must learn that "a" left its view; it never hears of "b".
    assert [(t.event.alert_id, t.in_view(critical)) for t in replay] == [("a", True), ("a", False)]


def test_resolved_alerts_beyond_the_cap_are_forgotten_oldest_first(make_event: MakeEvent) -> None:
    book = AlertBook(max_closed=2)
    for name in ["a", "b", "c"]:
        book.apply(make_event(name))
        book.apply(make_event(name, revision=2, event="resolved"))
    book.apply(make_event("open-one"))
    assert book.get("a") is None
    assert book.get("b") is not None
    assert book.get("c") is not None
    assert [v.alert_id for v in book.open_alerts()] == ["open-one"]
    assert len(book) == 1


def test_an_ack_storm_keeps_the_first_event_and_the_latest_only(make_event: MakeEvent) -> None:
    """500 acks alternating two names (issue 10) must not grow an alert's history without bound."""
    book = AlertBook(max_history=5)
    book.apply(make_event(revision=1))
    for i in range(500):
        name = "rn7" if i % 2 else "dr9"
        book.apply(make_event(revision=2 + i, event="acknowledged", acknowledged_by=name))
    record = book.get("kmg-1")
    assert record is not None
    assert [h.event.revision for h in record.history] == [1, 498, 499, 500, 501]
    assert record.history_omitted == 496  # 501 events, 5 kept
    assert record.view.acknowledged_by == "rn7"
    with pytest.raises(ValueError, match="max_history"):
        AlertBook(max_history=1)
