"""The dashboard's in-memory view of alerts: open alerts, per-alert history and a numbered transition log."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from pydantic import AwareDatetime

from alerts.models import AlertEvent, AlertEventKind, RuleId, Severity


class AlertView(AlertEvent):
    """An alert as it stands now: its latest event plus what the dashboard derives from the history."""

    open: bool
    # Wall-clock time the episode was first published (its first event's emitted_at, else event_time).
    opened_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    # Sequence number of the transition that produced this state.
    seq: int


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """The query filters shared by the list and the stream; None means "any"."""

    unit: str | None = None
    min_severity: Severity | None = None
    rule: RuleId | None = None

    def matches(self, alert: AlertEvent) -> bool:
        if self.rule is not None and alert.rule != self.rule:
            return False
        if self.min_severity is not None and alert.severity.rank < self.min_severity.rank:
            return False
        if self.unit is not None:
            unit = alert.location.unit if alert.location else None
            # Unit codes are typed by hand into the URL; "4w" should find "4W".
            if unit is None or unit.casefold() != self.unit.casefold():
                return False
        return True


@dataclass(frozen=True, slots=True)
class Transition:
    """One applied alert event, numbered; `before` is the alert's state before it (None for a new alert)."""

    seq: int
    event: AlertEvent
    view: AlertView
    before: AlertView | None

    def relevant(self, flt: AlertFilter) -> bool:
        """Whether a client watching `flt` must hear of this: it concerns an alert it shows or should show."""
        if flt.matches(self.view):
            return True
        return self.before is not None and self.before.open and flt.matches(self.before)

    def in_view(self, flt: AlertFilter) -> bool:
        """Whether, after this transition, a client watching `flt` shows the alert (else it removes it)."""
        return self.view.open and flt.matches(self.view)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    seq: int
    event: AlertEvent


@dataclass(slots=True)
class AlertRecord:
    """Everything the book knows of one alert."""

    view: AlertView
    # The first event and the latest ones; `history_omitted` counts those dropped in between.
    history: list[HistoryEntry] = field(default_factory=list)
    history_omitted: int = 0


def _sort_key(view: AlertView) -> tuple[int, float, str]:
    return (-view.severity.rank, view.opened_at.timestamp(), view.alert_id)


def _wall_time(event: AlertEvent) -> AwareDatetime:
    return event.emitted_at or event.event_time


class AlertBook:
    """Applies AlertEvents idempotently by (alert_id, revision) and numbers every applied transition.

    Pure: no I/O, no clock. Sequence numbers start at `first_seq` and grow by one per applied transition;
    the dashboard starts them from a boot-time base so that ids from an earlier run of the process are
    recognisably foreign. The log of recent transitions (for SSE resumption) keeps `max_log` entries,
    each alert's history its first event and the latest `max_history - 1` (an ack storm cannot grow it),
    and the book forgets the oldest resolved alerts beyond `max_closed`, so memory stays bounded.
    """

    def __init__(
        self,
        *,
        first_seq: int = 1,
        max_log: int = 10_000,
        max_closed: int = 10_000,
        max_history: int = 100,
    ) -> None:
        if first_seq < 1:
            raise ValueError("first_seq must be >= 1")
        if max_history < 2:
            raise ValueError("max_history must be >= 2 (the first event and the latest)")
        self._max_history = max_history
        self._first_seq = first_seq
        self._next_seq = first_seq
        self._records: dict[str, AlertRecord] = {}
        self._open: dict[str, AlertView] = {}
        # Resolved alerts in the order they closed, oldest first, for eviction.
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._max_closed = max_closed
        self._log: deque[Transition] = deque(maxlen=max_log)
        # patient_id -> their alert ids, oldest first (a dict as an ordered set).
        self._by_patient: dict[str, dict[str, None]] = {}

    @property
    def first_seq(self) -> int:
        return self._first_seq

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest applied transition (first_seq - 1 before any)."""
        return self._next_seq - 1

    def apply(self, event: AlertEvent) -> Transition | None:
        """Apply one event; None when it changes nothing (a re-delivery, or older than what is known)."""
        record = self._records.get(event.alert_id)
        # A revision not newer than the current one is a re-delivery, or an out-of-order one that must
        # not roll the alert back; it cannot be a new transition either.
        if record is not None and event.revision <= record.view.revision:
            return None
        seq = self._next_seq
        self._next_seq += 1
        before = record.view if record is not None else None
        view = self._derive(event, before, seq)
        if record is None:
            record = AlertRecord(view=view)
            self._records[event.alert_id] = record
            self._by_patient.setdefault(event.patient_id, {})[event.alert_id] = None
        record.view = view
        record.history.append(HistoryEntry(seq=seq, event=event))
        if len(record.history) > self._max_history:
            del record.history[1]  # keep the first event: when and why the alert opened
            record.history_omitted += 1
        self._track_open(view)
        transition = Transition(seq=seq, event=event, view=view, before=before)
        self._log.append(transition)
        return transition

    def open_alerts(self, flt: AlertFilter | None = None) -> list[AlertView]:
        """Open alerts matching `flt`, most severe first, then longest open first."""
        views = [v for v in self._open.values() if flt is None or flt.matches(v)]
        return sorted(views, key=_sort_key)

    def get(self, alert_id: str) -> AlertRecord | None:
        return self._records.get(alert_id)

    def records(self) -> list[AlertRecord]:
        """Every alert the book holds: the open ones and the latest `max_closed` resolved ones."""
        return list(self._records.values())

    def for_patient(self, patient_id: str) -> list[AlertRecord]:
        """The patient's alerts the book holds, oldest first."""
        ids = self._by_patient.get(patient_id, {})
        return [self._records[i] for i in ids if i in self._records]

    def recently_resolved(self, since: AwareDatetime, flt: AlertFilter | None = None) -> list[AlertView]:
        """Alerts resolved at or after `since` (wall clock of the resolving event), latest first."""
        views = []
        for alert_id in reversed(self._closed):
            view = self._records[alert_id].view
            if _wall_time(view) < since:
                # Closed in publication order, so the rest are older still (up to cross-partition skew).
                break
            if flt is None or flt.matches(view):
                views.append(view)
        return views

    def transitions_after(self, seq: int, flt: AlertFilter | None = None) -> list[Transition] | None:
        """Transitions after `seq` relevant to `flt`, or None when `seq` cannot be resumed from.

        None means the id is foreign (from an earlier run, or in the future) or so old that transitions
        after it have left the log: the caller must send a fresh snapshot instead of a gappy replay.
        """
        if seq < self._first_seq - 1 or seq > self.last_seq:
            return None
        if seq == self.last_seq:
            return []
        oldest = self._log[0].seq if self._log else self._next_seq
        if seq + 1 < oldest:
            return None
        chosen = flt or AlertFilter()
        return [t for t in self._log if t.seq > seq and t.relevant(chosen)]

    def __len__(self) -> int:
        """The number of open alerts."""
        return len(self._open)

    # --- internals ------------------------------------------------------------------------------

    def _derive(self, event: AlertEvent, before: AlertView | None, seq: int) -> AlertView:
        opened_at = before.opened_at if before is not None else _wall_time(event)
        acknowledged_at: AwareDatetime | None = None
        if event.acknowledged_by is not None:
            if event.event is AlertEventKind.ACKNOWLEDGED:
                acknowledged_at = _wall_time(event)
            elif before is not None and before.acknowledged_by == event.acknowledged_by:
                acknowledged_at = before.acknowledged_at
        fields = event.model_dump(by_alias=False)
        return AlertView.model_validate(
            {
                **fields,
                "open": event.event is not AlertEventKind.RESOLVED,
                "opened_at": opened_at,
                "acknowledged_at": acknowledged_at,
                "seq": seq,
            }
        )

    def _track_open(self, view: AlertView) -> None:
        if view.open:
            self._open[view.alert_id] = view
            self._closed.pop(view.alert_id, None)
            return
        self._open.pop(view.alert_id, None)
        self._closed[view.alert_id] = None
        self._closed.move_to_end(view.alert_id)
        while len(self._closed) > self._max_closed:
            forgotten, _ = self._closed.popitem(last=False)
            gone = self._records.pop(forgotten)
            patient = self._by_patient.get(gone.view.patient_id, {})
            patient.pop(forgotten, None)
            if not patient:
                self._by_patient.pop(gone.view.patient_id, None)
