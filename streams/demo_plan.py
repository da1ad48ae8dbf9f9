"""The demo's schedule: MIMIC-IV with its alerting stays first, compressed, merged with the cohort."""

from __future__ import annotations

import heapq
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import orjson

from alerts.codes import CodeMapping
from alerts.rulesfile import RulesConfig
from streams.feeds import Envelope, envelope_time, paced
from streams.feeds.demo_cohort import cohort_schedule
from streams.feeds.mimic import iter_mimic
from streams.replay import replay

__all__ = ["DemoPlan", "plan_demo"]

#: An alerting stay is played from this long before its patient's first alert, so the trend shows.
LEAD = timedelta(hours=48)
#: ...and until this long after the patient's last alert event.
TAIL = timedelta(hours=12)
#: Hospital seconds per wall second for an alerting stay up to its first alert: a hospital day every 3 s.
ALERTING_SPEED = 86_400 / 3
#: ...and from its first alert on, so that its alerts stay on the board long enough to be read: half a
#: hospital hour per second (an alert open for 12 h shows for 24 s).
OPEN_SPEED = 1_800.0
#: The longest pause within that open phase (results come hours apart; MAX_GAP_S would hurry them).
OPEN_MAX_GAP_S = 20.0
#: The first alerting stay starts this many seconds after the URLs; each next one this much later.
FIRST_STAY_AT, STAY_EVERY = 1.0, 9.0
#: Hospital seconds per wall second for the rest of MIMIC (a day per second), as before this plan.
REST_SPEED = 86_400.0
#: MIMIC shifts every patient into its own decade; no pause in the feed is longer than this.
MAX_GAP_S = 1.0


@dataclass(frozen=True)
class DemoPlan:
    """What the demo will send, and the figures the console and the page state about it."""

    mimic: tuple[tuple[tuple[float, Envelope], ...], ...]
    alerting_patients: int
    mimic_patients: int
    rest_starts_at: float

    def schedule(
        self, start: datetime, *, cohort_rounds: int | None = None
    ) -> Iterator[tuple[float, Envelope]]:
        """(seconds after `start`, envelope) in due order; the cohort's clock starts at `start`."""
        streams: list[Iterable[tuple[float, Envelope]]] = [cohort_schedule(start, rounds=cohort_rounds)]
        streams.extend(self.mimic)
        return heapq.merge(*streams, key=lambda item: item[0])

    def describe(self) -> str:
        """The honest account of the time compression, for the console and the page."""
        cohort = (
            "a synthetic cohort (patients DEMO-*) whose scripted stories of fired, escalated, updated, "
            "acknowledged and resolved alerts take two minutes of real time and repeat every 2.5 minutes"
        )
        if not self.mimic_patients:
            return f"Only {cohort}."
        return (
            f"MIMIC-IV demo: its {self.alerting_patients} alerting stays first, each from "
            f"{LEAD.total_seconds() / 3600:g} h before its first alert at {ALERTING_SPEED:,.0f}x "
            f"(a hospital day every {86_400 / ALERTING_SPEED:g} s), then from the first alert to "
            f"{TAIL.total_seconds() / 3600:g} h after the last at {OPEN_SPEED:,.0f}x (half an hour per "
            f"second, pauses up to {OPEN_MAX_GAP_S:g} s), a stay every {STAY_EVERY:g} s; then the "
            f"other records of its {self.mimic_patients} patients at {REST_SPEED:,.0f}x (a day per second), "
            f"pauses capped at {MAX_GAP_S:g} s. Interleaved: {cohort}."
        )


def _first_alert_times(
    envelopes: list[Envelope], rules: RulesConfig, mapping: CodeMapping, tz: tzinfo
) -> dict[str, tuple[datetime, datetime]]:
    """patient_id -> (event time of its first alert event, of its last), from the core over the feed."""
    out = io.BytesIO()
    replay((orjson.dumps(e) for e in envelopes), rules=rules, mapping=mapping, tz=tz, alerts_out=out)
    spans: dict[str, tuple[datetime, datetime]] = {}
    for line in out.getvalue().splitlines():
        alert = orjson.loads(line)
        moment = datetime.fromisoformat(alert["event_time"])
        first, last = spans.get(alert["patient_id"], (moment, moment))
        spans[alert["patient_id"]] = (min(first, moment), max(last, moment))
    return spans


def _patient_of(envelope: Envelope) -> str:
    return str(envelope["value"]["patient_id"])


def _alerting_stays(
    envelopes: list[Envelope], spans: dict[str, tuple[datetime, datetime]]
) -> tuple[list[list[tuple[float, Envelope]]], list[Envelope]]:
    """One schedule per alerting patient (its history at once, then its stay paced), and the rest."""
    order = sorted(spans, key=lambda patient: spans[patient][0])
    slot = {patient: FIRST_STAY_AT + i * STAY_EVERY for i, patient in enumerate(order)}
    history: dict[str, list[Envelope]] = {p: [] for p in order}
    stay: dict[str, list[Envelope]] = {p: [] for p in order}
    rest: list[Envelope] = []
    for envelope in envelopes:
        patient = _patient_of(envelope)
        if patient not in slot:
            rest.append(envelope)
            continue
        moment = envelope_time(envelope)
        first, last = spans[patient]
        if moment is None or moment < first - LEAD:
            history[patient].append(envelope)
        elif moment <= last + TAIL:
            stay[patient].append(envelope)
        else:
            rest.append(envelope)

    def one(patient: str) -> list[tuple[float, Envelope]]:
        start = due = slot[patient]
        timed = [(start, envelope) for envelope in history[patient]]
        first_alert = spans[patient][0]
        previous: datetime | None = None
        for envelope in stay[patient]:
            moment = envelope_time(envelope)
            if moment is not None and previous is not None and moment > previous:
                leading = moment <= first_alert
                speed, cap = (ALERTING_SPEED, MAX_GAP_S) if leading else (OPEN_SPEED, OPEN_MAX_GAP_S)
                due += min((moment - previous).total_seconds() / speed, cap)
            if moment is not None and (previous is None or moment > previous):
                previous = moment
            timed.append((due, envelope))
        return timed

    return [one(patient) for patient in order], rest


def _paced_from(start: float, envelopes: Iterable[Envelope]) -> Iterator[tuple[float, Envelope]]:
    due = start
    for delay, envelope in paced(envelopes, REST_SPEED, MAX_GAP_S):
        due += delay
        yield due, envelope


def plan_demo(mimic_dir: Path | None, *, rules: RulesConfig, mapping: CodeMapping, tz: tzinfo) -> DemoPlan:
    """The demo's plan; without `mimic_dir` (the data is not there) the cohort alone is played."""
    if mimic_dir is None:
        return DemoPlan(mimic=(), alerting_patients=0, mimic_patients=0, rest_starts_at=0.0)
    envelopes = list(iter_mimic(mimic_dir))
    spans = _first_alert_times(envelopes, rules, mapping, tz)
    stays, rest = _alerting_stays(envelopes, spans)
    # The rest begins once every alerting stay has been played, so no patient's records cross.
    rest_at = max((timed[-1][0] for timed in stays if timed), default=0.0) + 5.0
    mimic = (*(tuple(timed) for timed in stays), tuple(_paced_from(rest_at, rest)))
    return DemoPlan(
        mimic=mimic,
        alerting_patients=len(spans),
        mimic_patients=len({_patient_of(e) for e in envelopes}),
        rest_starts_at=rest_at,
    )
