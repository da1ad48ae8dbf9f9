"""When to notify whom: group_wait, escalation, repeats, acks and resolves, as pure functions of time."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from alerts.models import AlertEvent, AlertEventKind
from alerts.notifier.routing import RouteMatch


class NotificationKind(StrEnum):
    TRIGGER = "trigger"  # first page to the primary receiver, group_wait after the route matched
    ESCALATE = "escalate"  # first page to the next receiver: not acknowledged within escalate_after
    SEVERITY = "severity"  # the severity rose after receivers were paged (also after an ack)
    REPEAT = "repeat"  # reminder: still open and not acknowledged after repeat_interval
    ACKNOWLEDGE = "acknowledge"  # first ack at a severity: tell the receivers that were paged
    RESOLVE = "resolve"  # the alert closed: tell the receivers that were paged


#: Kinds that happen at most once per receiver and alert (a repeat once per number), whatever revision
#: the message carries; the others happen once per transition (revision).
_ONCE_PER_ALERT = frozenset({NotificationKind.TRIGGER, NotificationKind.ESCALATE, NotificationKind.REPEAT})


@dataclass(frozen=True, slots=True)
class Transition:
    """One alert event as the notifier saw it; `at` is its place on the notifier's time axis."""

    alert: AlertEvent
    at: datetime


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one receiver about one alert."""

    receiver: str
    kind: NotificationKind
    alert: AlertEvent
    due: datetime
    level: int = 0
    repeat: int = 0

    @property
    def kind_label(self) -> str:
        return f"repeat-{self.repeat}" if self.kind is NotificationKind.REPEAT else self.kind.value

    @property
    def log_key(self) -> str:
        """The delivery-log key: `{receiver}|{alert_id}|{revision}|{kind}`."""
        return f"{self.receiver}|{self.alert.alert_id}|{self.alert.revision}|{self.kind_label}"

    @property
    def identity(self) -> str:
        """What makes two notifications the same delivery (see identity_of_key)."""
        return identity_of_key(self.log_key)


def identity_of_key(key: str) -> str:
    """Delivery identity of a log key: once-per-alert kinds ignore the revision the message carried.

    After a restart a trigger may be rebuilt with a later revision's content; it is still the trigger
    that was already sent, so the identity leaves the revision out.
    """
    receiver, alert_id, revision, label = key.split("|")
    kind = label.partition("-")[0]
    if kind in _ONCE_PER_ALERT:
        return f"{receiver}|{alert_id}|*|{label}"
    return f"{receiver}|{alert_id}|{revision}|{label}"


def transition_time(alert: AlertEvent, fallback: datetime) -> datetime:
    """The time axis: `emitted_at` (set by the worker, the same on every re-read), else `fallback`."""
    return alert.emitted_at if alert.emitted_at is not None else fallback


@dataclass(frozen=True, slots=True)
class _Shape:
    first_page: datetime  # group_wait after the route matched
    stop: datetime | None  # first acknowledgement or resolution, whichever is first
    resolved_at: datetime | None


def _shape(transitions: Sequence[Transition], route: RouteMatch) -> _Shape:
    ack = next((t.at for t in transitions if t.alert.event is AlertEventKind.ACKNOWLEDGED), None)
    res = next((t.at for t in transitions if t.alert.event is AlertEventKind.RESOLVED), None)
    stops = [x for x in (ack, res) if x is not None]
    first_page = transitions[0].at + timedelta(seconds=route.group_wait)
    return _Shape(first_page, min(stops) if stops else None, res)


def _open_at(shape: _Shape, moment: datetime) -> bool:
    """Still open and un-acknowledged at `moment` (an ack or resolve exactly then counts as in time)."""
    return shape.stop is None or shape.stop > moment


def _content_at(transitions: Sequence[Transition], moment: datetime) -> AlertEvent:
    """The alert as it stood at `moment`: deterministic however far the consumer has read."""
    current = transitions[0].alert
    for t in transitions:
        if t.at > moment:
            break
        current = t.alert
    return current


def _events(transitions: Sequence[Transition], route: RouteMatch, shape: _Shape) -> list[Notification]:
    """Every notification except repeats, without a horizon (their number is bounded)."""
    receivers = route.receivers
    notes: list[Notification] = []
    paged: dict[str, datetime] = {}  # receiver -> when it was first paged
    if _open_at(shape, shape.first_page):
        notes.append(
            Notification(
                receivers[0],
                NotificationKind.TRIGGER,
                _content_at(transitions, shape.first_page),
                shape.first_page,
            )
        )
        paged[receivers[0]] = shape.first_page
        if route.escalate_after is not None:
            for level in range(1, len(receivers)):
                due = shape.first_page + timedelta(seconds=route.escalate_after * level)
                if not _open_at(shape, due):
                    break
                notes.append(
                    Notification(
                        receivers[level],
                        NotificationKind.ESCALATE,
                        _content_at(transitions, due),
                        due,
                        level,
                    )
                )
                paged.setdefault(receivers[level], due)

    def paged_by(moment: datetime) -> list[str]:
        return [r for r in receivers if r in paged and paged[r] <= moment]

    # CLINICAL_RULES "Acknowledgements": one `acknowledge` per alert and severity, however many people
    # acknowledge; a burst of acks (or a script acking in a loop) is one message per receiver.
    acknowledged_at: set[str] = set()

    for t in transitions:
        kind = t.alert.event
        if kind is AlertEventKind.ESCALATED and t.at > shape.first_page:
            targets = paged_by(t.at)
            if not targets:
                # Acknowledged before anyone was paged: a later rise in severity still pages the primary.
                targets = [receivers[0]]
                paged[receivers[0]] = t.at
            notes.extend(Notification(r, NotificationKind.SEVERITY, t.alert, t.at) for r in targets)
        elif kind is AlertEventKind.ACKNOWLEDGED:
            if t.alert.severity.value in acknowledged_at:
                continue
            acknowledged_at.add(t.alert.severity.value)
            notes.extend(Notification(r, NotificationKind.ACKNOWLEDGE, t.alert, t.at) for r in paged_by(t.at))
        elif kind is AlertEventKind.RESOLVED:
            notes.extend(Notification(r, NotificationKind.RESOLVE, t.alert, t.at) for r in paged_by(t.at))
    notes.sort(key=lambda n: (n.due, n.level))
    return notes


def _paged_before(notes: Sequence[Notification], moment: datetime) -> list[str]:
    seen: list[str] = []
    for n in notes:
        if (
            n.kind in (NotificationKind.TRIGGER, NotificationKind.ESCALATE, NotificationKind.SEVERITY)
            and n.due <= moment
            and n.receiver not in seen
        ):
            seen.append(n.receiver)
    return seen


def _last_repeat(shape: _Shape, interval: float, until: datetime) -> int:
    """The number of the latest repeat due at or before `until` (0: none yet)."""
    limit = until if shape.stop is None else min(until, shape.stop)
    elapsed = (limit - shape.first_page).total_seconds()
    if elapsed <= 0:
        return 0
    n = math.floor(elapsed / interval)
    # A repeat exactly at the ack/resolve time is not sent (the ack wins), as for escalations.
    if shape.stop is not None and shape.first_page + timedelta(seconds=n * interval) >= shape.stop:
        n -= 1
    return max(n, 0)


def plan(transitions: Sequence[Transition], route: RouteMatch, until: datetime) -> list[Notification]:
    """Every notification due at or before `until`, in due order.

    `transitions` are the alert's events from the first one this route matched, in revision order.
    Of the repeats only the latest due is listed: after an outage one reminder, not a burst.
    """
    if not transitions or not route.receivers:
        return []
    shape = _shape(transitions, route)
    events = _events(transitions, route, shape)
    notes = [n for n in events if n.due <= until]
    interval = route.repeat_interval
    if interval and _open_at(shape, shape.first_page):
        n = _last_repeat(shape, interval, until)
        if n > 0:
            due = shape.first_page + timedelta(seconds=n * interval)
            content = _content_at(transitions, due)
            notes.extend(
                Notification(r, NotificationKind.REPEAT, content, due, repeat=n)
                for r in _paged_before(events, due)
            )
            notes.sort(key=lambda x: (x.due, x.level))
    return notes


def next_due(transitions: Sequence[Transition], route: RouteMatch, after: datetime) -> datetime | None:
    """The earliest time after `after` at which plan() would list something new; None if never."""
    if not transitions or not route.receivers:
        return None
    shape = _shape(transitions, route)
    candidates = [n.due for n in _events(transitions, route, shape) if n.due > after]
    interval = route.repeat_interval
    if interval and _open_at(shape, shape.first_page):
        n = max(math.floor((after - shape.first_page).total_seconds() / interval) + 1, 1)
        due = shape.first_page + timedelta(seconds=n * interval)
        if _open_at(shape, due):
            candidates.append(due)
    return min(candidates, default=None)


def settled(transitions: Sequence[Transition], route: RouteMatch, now: datetime) -> bool:
    """True when nothing can become due after `now`: the alert is resolved and `now` is past it."""
    if not transitions or not route.receivers:
        return True
    shape = _shape(transitions, route)
    return shape.resolved_at is not None and now >= shape.resolved_at
