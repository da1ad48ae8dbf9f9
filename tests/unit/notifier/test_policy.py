"""Notification policy: group_wait, escalation, repeats, acknowledgements and resolves over time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from alerts.notifier.policy import (
    Notification,
    NotificationKind,
    Transition,
    identity_of_key,
    next_due,
    plan,
    settled,
)
from alerts.notifier.routing import RouteMatch
from tests.unit.notifier.alert_factory import BASE_TIME

T = NotificationKind
MakeTransition = Callable[..., Transition]


def route(
    *receivers: str, wait: float = 30, repeat: float | None = None, esc: float | None = None
) -> RouteMatch:
    return RouteMatch("route", receivers or ("primary",), wait, repeat, esc)


def at(seconds: float) -> datetime:
    return BASE_TIME + timedelta(seconds=seconds)


def summary(notes: list[Notification]) -> list[tuple[str, str, int]]:
    return [(n.receiver, n.kind_label, n.alert.revision) for n in notes]


def test_nothing_is_sent_during_group_wait(make_transition: MakeTransition) -> None:
    fired = [make_transition(0)]
    assert plan(fired, route(), at(29.9)) == []
    assert summary(plan(fired, route(), at(30))) == [("primary", "trigger", 1)]


def test_an_alert_resolved_within_group_wait_is_never_sent(make_transition: MakeTransition) -> None:
    story = [make_transition(0), make_transition(5, revision=2, event="resolved", reason="normalized")]
    assert plan(story, route(), at(3600)) == []
    assert settled(story, route(), at(3600))


def test_the_trigger_carries_the_alert_as_it_stood_when_group_wait_ended(
    make_transition: MakeTransition,
) -> None:
    story = [
        make_transition(0),
        make_transition(10, revision=2, event="escalated", severity="critical"),
        make_transition(40, revision=3, event="updated", severity="critical"),
    ]
    # However late it is evaluated (a consumer catching up), the trigger is revision 2.
    (trigger,) = plan(story, route(), at(100))
    assert (trigger.kind, trigger.alert.revision, trigger.alert.severity.value) == (T.TRIGGER, 2, "critical")


def test_resolved_after_group_wait_sends_trigger_then_resolve(make_transition: MakeTransition) -> None:
    story = [make_transition(0), make_transition(31, revision=2, event="resolved", reason="normalized")]
    assert summary(plan(story, route(), at(31))) == [("primary", "trigger", 1), ("primary", "resolve", 2)]


def test_unacknowledged_alert_escalates_down_the_receivers(make_transition: MakeTransition) -> None:
    rm = route("primary", "second", "third", esc=60)
    story = [make_transition(0)]
    assert summary(plan(story, rm, at(90))) == [("primary", "trigger", 1), ("second", "escalate", 1)]
    assert summary(plan(story, rm, at(150)))[-1] == ("third", "escalate", 1)
    assert [n.level for n in plan(story, rm, at(150))] == [0, 1, 2]


def test_acknowledgement_stops_escalation_and_tells_those_paged(make_transition: MakeTransition) -> None:
    rm = route("primary", "second", "third", esc=60)
    story = [
        make_transition(0),
        make_transition(100, revision=2, event="acknowledged", acknowledged_by="rn7"),
    ]
    assert summary(plan(story, rm, at(10_000))) == [
        ("primary", "trigger", 1),
        ("second", "escalate", 1),
        ("primary", "acknowledge", 2),
        ("second", "acknowledge", 2),
    ]


def test_one_acknowledge_per_alert_and_severity_however_many_acks(make_transition: MakeTransition) -> None:
    """500 acks alternating two names (issue 10) are one message; after an escalation, one more."""
    rm = route("primary", "second", esc=60)
    story = [make_transition(0)]
    for i in range(500):
        name = "rn7" if i % 2 else "dr9"
        story.append(make_transition(100 + i, revision=2 + i, event="acknowledged", acknowledged_by=name))
    story.append(make_transition(700, revision=502, event="escalated", severity="critical"))
    story.append(
        make_transition(701, revision=503, event="acknowledged", severity="critical", acknowledged_by="dr9")
    )
    story.append(
        make_transition(702, revision=504, event="acknowledged", severity="critical", acknowledged_by="rn7")
    )
    assert summary(plan(story, rm, at(10_000))) == [
        ("primary", "trigger", 1),
        ("second", "escalate", 1),
        ("primary", "acknowledge", 2),
        ("second", "acknowledge", 2),
        ("primary", "severity", 502),
        ("second", "severity", 502),
        ("primary", "acknowledge", 503),
        ("second", "acknowledge", 503),
    ]


def test_acknowledged_before_anyone_was_paged_sends_nothing(make_transition: MakeTransition) -> None:
    story = [make_transition(0), make_transition(5, revision=2, event="acknowledged", acknowledged_by="rn7")]
    assert plan(story, route(esc=60, repeat=60), at(10_000)) == []


def test_a_later_severity_rise_still_notifies_after_an_ack(make_transition: MakeTransition) -> None:
    rm = route("primary", "second", esc=600)
    story = [
        make_transition(0),
        make_transition(5, revision=2, event="acknowledged", acknowledged_by="rn7"),
        make_transition(300, revision=3, event="escalated", severity="critical"),
        make_transition(400, revision=4, event="resolved", reason="normalized"),
    ]
    assert summary(plan(story, rm, at(10_000))) == [("primary", "severity", 3), ("primary", "resolve", 4)]


def test_severity_rise_after_paging_goes_to_everyone_paged(make_transition: MakeTransition) -> None:
    rm = route("primary", "second", esc=60)
    story = [make_transition(0), make_transition(120, revision=2, event="escalated", severity="high")]
    assert summary(plan(story, rm, at(120))) == [
        ("primary", "trigger", 1),
        ("second", "escalate", 1),
        ("primary", "severity", 2),
        ("second", "severity", 2),
    ]


def test_repeats_remind_while_open_and_only_the_latest_overdue_one_is_listed(
    make_transition: MakeTransition,
) -> None:
    rm = route(repeat=3600)
    story = [make_transition(0)]
    assert summary(plan(story, rm, at(30 + 3600))) == [("primary", "trigger", 1), ("primary", "repeat-1", 1)]
    # After a long outage: one reminder (the fifth), not five.
    assert summary(plan(story, rm, at(30 + 5 * 3600 + 1))) == [
        ("primary", "trigger", 1),
        ("primary", "repeat-5", 1),
    ]


def test_repeats_stop_at_the_acknowledgement(make_transition: MakeTransition) -> None:
    rm = route(repeat=100)
    story = [make_transition(0), make_transition(250, revision=2, event="acknowledged", acknowledged_by="x")]
    labels = [label for _, label, _ in summary(plan(story, rm, at(10_000)))]
    assert labels == ["trigger", "repeat-2", "acknowledge"]
    assert next_due(story, rm, at(10_000)) is None


def test_next_due_names_the_next_moment_anything_happens(make_transition: MakeTransition) -> None:
    rm = route("primary", "second", esc=60, repeat=3600)
    story = [make_transition(0)]
    assert next_due(story, rm, at(0)) == at(30)
    assert next_due(story, rm, at(30)) == at(90)
    assert next_due(story, rm, at(90)) == at(30 + 3600)


def test_open_alerts_are_never_settled(make_transition: MakeTransition) -> None:
    story = [make_transition(0)]
    assert not settled(story, route(), at(10**6))
    resolved = [*story, make_transition(50, revision=2, event="resolved", reason="expired")]
    assert not settled(resolved, route(), at(49))
    assert settled(resolved, route(), at(50))


def test_identity_ignores_the_revision_only_for_once_per_alert_kinds(make_transition: MakeTransition) -> None:
    assert identity_of_key("pd|kmg-1|3|trigger") == identity_of_key("pd|kmg-1|1|trigger")
    assert identity_of_key("pd|kmg-1|3|repeat-2") != identity_of_key("pd|kmg-1|3|repeat-1")
    assert identity_of_key("pd|kmg-1|3|severity") != identity_of_key("pd|kmg-1|4|severity")
    note = plan([make_transition(0)], route(), at(30))[0]
    assert note.log_key == "primary|kmg-0001|1|trigger"
