"""Alert burden: alerts per 100 patient-days by rule and severity; share acknowledged within 15 min."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from alerts.models import AlertEventKind, RuleId, Severity
from streams.web.alert_book import AlertRecord

__all__ = ["ACK_TARGET", "WINDOWS", "BurdenFigures", "PatientDays", "burden"]

#: The acknowledgement target the share is measured against.
ACK_TARGET = timedelta(minutes=15)
#: The windows the panel and /metrics report, by label.
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


class PatientDays:
    """Distinct (patient, calendar day in the hospital zone) pairs with input, by the day it arrived.

    Days older than the longest window are dropped, so memory holds about eight days of census.
    """

    def __init__(self, tz: tzinfo) -> None:
        self._tz = tz
        self._days: dict[date, set[str]] = {}

    def note(self, patient_id: str, arrived: datetime) -> None:
        self._days.setdefault(arrived.astimezone(self._tz).date(), set()).add(patient_id)

    def count(self, now: datetime, window: timedelta) -> int:
        """Patient-days of the calendar days the window touches (whole days: census is counted by day)."""
        first = (now - window).astimezone(self._tz).date()
        keep = (now - max(WINDOWS.values()) - timedelta(days=1)).astimezone(self._tz).date()
        for day in [d for d in self._days if d < keep]:
            del self._days[day]
        return sum(len(patients) for day, patients in self._days.items() if day >= first)


@dataclass(frozen=True, slots=True)
class BurdenFigures:
    """One window's figures."""

    window: str
    patient_days: int
    # (rule, highest severity reached) -> alerts opened in the window.
    alerts: dict[tuple[str, str], int]
    acked_within_target: int
    ack_measured: int

    @property
    def per_100_patient_days(self) -> dict[tuple[str, str], float]:
        if not self.patient_days:
            return {}
        return {key: 100.0 * n / self.patient_days for key, n in self.alerts.items()}

    @property
    def acked_within_target_share(self) -> float | None:
        return self.acked_within_target / self.ack_measured if self.ack_measured else None

    def as_json(self) -> dict[str, object]:
        rates = self.per_100_patient_days
        return {
            "window": self.window,
            "patient_days": self.patient_days,
            "alerts_opened": sum(self.alerts.values()),
            "by_rule_and_severity": [
                {
                    "rule": rule.value,
                    "severity": severity.value,
                    "alerts": self.alerts.get((rule.value, severity.value), 0),
                    "per_100_patient_days": round(rates.get((rule.value, severity.value), 0.0), 2),
                }
                for rule in RuleId
                for severity in reversed(Severity)
            ],
            "acknowledged_within_15_min": self.acked_within_target,
            "acknowledgement_measured": self.ack_measured,
            "acknowledged_within_15_min_share": (
                None if self.acked_within_target_share is None else round(self.acked_within_target_share, 4)
            ),
        }


def _opened_and_acked(record: AlertRecord) -> tuple[datetime, datetime | None, Severity]:
    first = record.history[0].event
    opened = first.emitted_at or first.event_time
    acked: datetime | None = None
    worst = first.severity
    for entry in record.history:
        event = entry.event
        if event.severity.rank > worst.rank:
            worst = event.severity
        if acked is None and event.event is AlertEventKind.ACKNOWLEDGED:
            acked = event.emitted_at or event.event_time
    return opened, acked, worst


def burden(records: Iterable[AlertRecord], census: PatientDays, now: datetime) -> list[BurdenFigures]:
    """The figures of every window at `now` (wall clock), from the alerts the dashboard holds.

    An alert counts in a window when its first event was published in it, under its rule and the highest
    severity it reached. The acknowledgement share counts alerts acknowledged within 15 min of opening
    over those that were acknowledged, or have been open (or were resolved) unacknowledged past 15 min:
    one opened 5 min ago and not yet acknowledged is not a miss yet, and one resolved within 15 min
    without an acknowledgement is left out (nobody needed to act).
    """
    seen = [(_opened_and_acked(r), r) for r in records if r.history]
    figures = []
    for label, window in WINDOWS.items():
        since = now - window
        alerts: dict[tuple[str, str], int] = {}
        hit = measured = 0
        for (opened, acked, worst), record in seen:
            if opened < since:
                continue
            key = (record.view.rule.value, worst.value)
            alerts[key] = alerts.get(key, 0) + 1
            closed = None if record.view.open else (record.view.emitted_at or record.view.event_time)
            if acked is not None:
                measured += 1
                hit += acked - opened <= ACK_TARGET
            elif ((closed or now) - opened) > ACK_TARGET:
                # Unacknowledged past the target, whether still open or resolved late: a miss.
                measured += 1
        figures.append(BurdenFigures(label, census.count(now, window), alerts, hit, measured))
    return figures
