"""Model-based test: lytewatch and the simple model of tests/model/kmg_model.py, fed the same random input.

Every input message goes through lytewatch's own ingest and engine step (as `lytewatch replay` does,
with the table value round-tripped through its stored bytes like the worker) and through the model;
after each message the two must agree on what became of it (used, ignored and why, dead-lettered and
why) and on every alert transition: event, rule, severity, reason, revision, alert identity, evidence
identity and event time.

The default run is bounded (profile "ci"); `make fuzz-clinical` runs the long profile
(LYTEWATCH_FUZZ_PROFILE=long, LYTEWATCH_FUZZ_EXAMPLES examples).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from alerts.codes import DEFAULT_MAPPING
from alerts.errors import IgnoreReason
from alerts.models import AlertEvent
from alerts.rulesfile import RulesConfig
from streams.topic_registry import DEFAULT_TOPIC_KINDS
from streams.worker.envelope import Origin
from streams.worker.ingest import ingest_message
from streams.worker.stored import StoredPatient, decode_stored, encode_stored, step

from . import kmg_model as model

RULES = RulesConfig()
# What the run exercised (printed after a long run): state machines, messages by outcome, transitions.
STATS: Counter[str] = Counter()
EPOCH = model.EPOCH
PATIENTS = ("P1", "P1", "P1", "P1", "P2")

# --- input strategies: values on and around every threshold, every spelling, faults ----------------

# Times are half-hour slots around a "now" that moves forward: every window (4, 24, 48, 72 h) and the 24 h
# discharge reset land on the grid, so events fall exactly on window edges often. Each message is built
# from one drawn seed: hypothesis's own draws dominated the cost, and a failing sequence still shrinks
# message by message.


def _near(rnd: random.Random, now: int) -> int:
    """A slot at or shortly before `now` mostly, sometimes days late or a little early."""
    return max(0, now + rnd.choice([0, 0, 0, 0, -1, -1, -2, -4, -8, -16, -47, -48, -49, -96, 1, 2]))


def _stamp(rnd: random.Random, slot: int) -> str:
    moment = EPOCH + timedelta(minutes=30 * slot)
    form = rnd.choice(["Z", "+00:00", "naive", "+02:00"])
    if form == "naive":
        return moment.replace(tzinfo=None).isoformat()
    if form == "+02:00":
        return moment.astimezone(timezone(timedelta(hours=2))).isoformat()
    return moment.isoformat().replace("+00:00", "Z" if form == "Z" else "+00:00")


def _nulls(rnd: random.Random, msg: dict[str, Any]) -> dict[str, Any]:
    """An optional field without a value is left out or sent as null, at random (the same meaning)."""
    return {k: v for k, v in msg.items() if v != "absent" and (v is not None or rnd.random() < 0.5)}


K_CODES = [("2823-3", s) for s in [*model.SYSTEMS["loinc"], None]] + [
    ("6298-4", "LN"),
    ("50971", None),
    ("50971", "mimic-iv-itemid"),
]
MG_CODES = [("19123-9", s) for s in ["http://loinc.org", "https://loinc.org/", "LN", None]] + [
    ("2601-3", "urn:oid:2.16.840.1.113883.6.1"),
    ("50960", None),
]
OTHER_CODES = [
    ("2951-2", "http://loinc.org"),
    ("2823-3", "http://snomed.info/sct"),
    ("19123-9", "http://lonic.org"),
    ("2823-3", "RXNORM"),
    ("4603", None),
]
K_VALUES = [
    (v, u)
    for v in ["2.4", "2.49", "2.5", "2.9", "2.99", "3.0", "3.1", "3.4", "3.49", "3.495", "3.5", "3.6", "4.2"]
    for u in ["mmol/L", "mEq/L", "MMOL / l"]
]
MG_VALUES = (
    [(v, "mmol/L") for v in ["0.45", "0.5", "0.55", "0.6", "0.65", "0.69", "0.695", "0.7", "0.9"]]
    + [(v, "mg/dL") for v in ["1.1", "1.2", "1.45", "1.68", "1.69", "1.7", "2.0"]]
    + [(v, "mEq/L") for v in ["1.1", "1.38", "1.39", "1.4"]]
)
BAD_VALUES = [
    ("<1.0", "mmol/L"),
    ("3.1e0", "mmol/L"),
    ("NaN", "mmol/L"),
    (None, "mmol/L"),
    ("3.1", None),
    ("3.1", "mg"),
    ("12", "mmol/L"),
    ("hemolyzed", None),
]
STATUSES = ["final"] * 6 + ["preliminary", "corrected", "cancelled", "entered-in-error", None, "absent"]
LOCATIONS = [None, {"unit": "4W", "room": "12", "bed": "A"}, {"unit": "ICU"}]
MEDICATIONS = [
    {
        "code": "4603",
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "display": "furosemide 40 mg IV",
    },
    {"code": "4603", "system": "RXNORM"},
    {"code": "4603", "system": "https://www.nlm.nih.gov/research/umls/rxnorm"},
    {"code": "C03CA01", "system": "ATC"},
    {"display": "Lasix 20 mg"},
    {"code": "5487", "display": "hydrochlorothiazide 25 mg"},
    {"display": "Maxzide"},
    {"code": "8591", "system": "urn:oid:2.16.840.1.113883.6.88", "display": "KCl 20 mEq"},
    {"display": "KCl 20 mEq"},
    {"code": "4603", "system": "http://snomed.info/sct"},
    {"display": "spironolactone 25 mg"},
    {"display": "magnesium sulfate 2 g"},
    {"display": "acetaminophen 500 mg"},
    {"display": "losartan potassium 50 mg"},
]
ORDER_STATUSES = ["active"] * 4 + ["completed", "stopped", "on-hold", "cancelled", "entered-in-error"]


def lab_message(rnd: random.Random, now: int) -> dict[str, Any]:
    kind = rnd.choice(["K", "K", "K", "Mg", "Mg", "other"])
    code, system = rnd.choice(K_CODES if kind == "K" else MG_CODES if kind == "Mg" else OTHER_CODES)
    value, unit = (
        rnd.choice(K_VALUES if kind == "K" else MG_VALUES) if rnd.random() < 0.92 else rnd.choice(BAD_VALUES)
    )
    sent: Any = value
    if value is not None and value.replace(".", "").isdigit() and rnd.random() < 0.5:
        sent = float(value)  # a JSON number rather than a string
    return _nulls(
        rnd,
        {
            # Mostly one id space per analyte; now and then an id of the other analyte (a wrong correction).
            "result_id": rnd.choice(["K1", "K2", "K3", "K4"] if kind != "Mg" else ["M1", "M2", "M3"])
            if rnd.random() < 0.95
            else rnd.choice(["K1", "M1"]),
            "patient_id": rnd.choice(PATIENTS),
            "encounter_id": rnd.choice([None, "E1"]),
            "code": code,
            "system": system,
            "value": sent,
            "unit": unit,
            "status": rnd.choice(STATUSES),
            "collected_at": _stamp(rnd, _near(rnd, now)),
            "location": rnd.choice(LOCATIONS),
        },
    )


def order_message(rnd: random.Random, now: int) -> dict[str, Any]:
    start = _near(rnd, now)
    end = rnd.choice([None, None, 0, -2, 2, 8, 48, 60])
    recorded = max(0, start + rnd.choice([0, 0, -1, 1, 4, 20, 52]))
    # Diuretics and potassium first: most orders should matter to the rules.
    medication = MEDICATIONS[min(int(rnd.expovariate(0.3)), len(MEDICATIONS) - 1)]
    return _nulls(
        rnd,
        {
            "order_id": rnd.choice(["O1", "O2", "O3", "O4"]),
            "patient_id": rnd.choice(PATIENTS),
            "encounter_id": rnd.choice([None, "E1"]),
            "medication": medication,
            "status": rnd.choice(ORDER_STATUSES),
            "start": _stamp(rnd, start),
            "end": None if end is None else _stamp(rnd, max(0, start + end)),
            "recorded_at": _stamp(rnd, recorded),
        },
    )


def adt_message(rnd: random.Random, now: int) -> dict[str, Any]:
    return _nulls(
        rnd,
        {
            "patient_id": rnd.choice(PATIENTS),
            "encounter_id": rnd.choice([None, None, "E1", "E2"]),
            "event": rnd.choice(["admit", "transfer", "transfer", "transfer", "transfer", "discharge"]),
            "location": rnd.choice([None, *LOCATIONS]),
            "occurred_at": _stamp(rnd, _near(rnd, now)),
        },
    )


seeds = st.integers(min_value=0, max_value=2**32 - 1)


# --- the two implementations side by side -----------------------------------------------------------


def _minutes(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds()) // 60


def _comparable(alert: AlertEvent) -> tuple[Any, ...]:
    ev = alert.evidence
    k, mg = ev.potassium, ev.magnesium
    return (
        alert.event.value,
        alert.rule.value,
        alert.severity.value,
        alert.reason.value if alert.reason else None,
        alert.revision,
        alert.alert_id,
        k.result_id if k else None,
        Decimal(repr(k.value)) if k else None,
        mg.result_id if mg else None,
        Decimal(repr(mg.value)) if mg else None,
        tuple(sorted({d.order_id for d in ev.diuretics})),
        ev.refractory,
        _minutes(alert.event_time),
    )


class ClinicalRules(RuleBasedStateMachine):
    """One hospital: lytewatch (decode + core, state through bytes) and the model, message by message."""

    def __init__(self) -> None:
        super().__init__()
        STATS["state machines run"] += 1
        self.model = model.World()
        self.stored: dict[str, StoredPatient] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.offset = 0
        self.now = 20
        # Alerts open now (by lytewatch's id), so that acks often name one.
        self.open_ids: set[str] = set()
        # lytewatch alert id <-> model alert id, fixed at each id's first appearance.
        self.to_model: dict[str, str] = {}
        self.to_lytewatch: dict[str, str] = {}

    def _lytewatch(self, topic: str, msg: dict[str, Any]) -> tuple[str, list[AlertEvent]]:
        self.offset += 1
        outcome = ingest_message(
            DEFAULT_TOPIC_KINDS[topic],
            orjson.dumps(msg),
            Origin(topic=topic, partition=0, offset=self.offset),
            key=None,
            tz=UTC,
            mapping=DEFAULT_MAPPING,
            now=EPOCH,
        )
        if outcome.deadletters:
            return f"dead:{outcome.deadletters[0][0].value}", []
        if outcome.disposition == "ignored":
            return f"ignored:{outcome.ignore_reason.value}", []
        alerts: list[AlertEvent] = []
        disposition = "used"
        for envelope in outcome.forward:
            # The worker's own step, on the table value round-tripped through its bytes.
            key = envelope.event.patient_id
            result = step(self.stored.get(key), envelope, RULES, wall_now=0.0)
            assert result.stored is not None
            self.stored[key] = decode_stored(encode_stored(result.stored))
            if result.ignored_ack:
                disposition = f"ignored:{IgnoreReason.ACK_CHANGES_NOTHING.value}"
            alerts.extend(result.alerts)
        return disposition, alerts

    def _send(self, topic: str, msg: dict[str, Any]) -> None:
        self.sent.append((topic, msg))
        model_msg = dict(msg)
        if topic == "alerts.acks":
            model_msg["alert_id"] = self.to_model.get(msg["alert_id"], msg["alert_id"])
        got_disposition, got_alerts = self._lytewatch(topic, msg)
        want_disposition, want = self.model.apply(topic, model_msg)
        got = [_comparable(a) for a in got_alerts]
        for g, w in zip(got, want, strict=False):
            lw_id, model_id = g[5], w[5]
            if lw_id not in self.to_model and model_id not in self.to_lytewatch:
                self.to_model[lw_id], self.to_lytewatch[model_id] = model_id, lw_id
        translated = [(*w[:5], self.to_lytewatch.get(w[5], w[5]), *w[6:]) for w in want]
        STATS[f"message {topic} {got_disposition}"] += 1
        for alert in got_alerts:
            if alert.event.value == "resolved":
                self.open_ids.discard(alert.alert_id)
            else:
                self.open_ids.add(alert.alert_id)
        for g in got:
            STATS[f"transition {g[1]} {g[0]}" + (f" ({g[3]})" if g[3] else "")] += 1
        assert got_disposition == want_disposition, (topic, msg)
        assert got == translated, f"{topic} {msg}\nlytewatch: {got}\nmodel:     {translated}"

    @rule(seed=seeds)
    def lab(self, seed: int) -> None:
        self._send("labs.results", lab_message(random.Random(seed), self.now))

    @rule(seed=seeds)
    def lab_again(self, seed: int) -> None:
        """Labs twice as often as orders and ADT: they are what opens and closes alerts."""
        self.lab(seed)

    @rule(seed=seeds)
    def order(self, seed: int) -> None:
        self._send("meds.orders", order_message(random.Random(seed), self.now))

    @rule(seed=seeds)
    def adt(self, seed: int) -> None:
        self._send("adt.events", adt_message(random.Random(seed), self.now))

    @rule(seed=seeds)
    def ack(self, seed: int) -> None:
        rnd = random.Random(seed)
        unknown = "kmg-000000000000000000000000"
        msg = {
            "alert_id": rnd.choice([*sorted(self.open_ids)] * 3 + [*sorted(self.to_model), unknown]),
            "patient_id": rnd.choice(PATIENTS),
            "by": rnd.choice(["nurse1", "nurse1", "doctor2", " nurse1 ", "doctor2", "  "]),
            "at": _stamp(rnd, _near(rnd, self.now)),
        }
        self._send("alerts.acks", msg)

    @rule(seed=seeds)
    def time_passes(self, seed: int) -> None:
        self.now += random.Random(seed).choice([1, 2, 4, 8, 8, 16, 47, 48, 49, 96, 97, 144, 145])

    @precondition(lambda self: bool(self.sent))
    @rule(seed=seeds)
    def redeliver(self, seed: int) -> None:
        """An identical re-delivery of any earlier message, late."""
        topic, msg = random.Random(seed).choice(self.sent)
        self._send(topic, msg)


_PROFILE = os.environ.get("LYTEWATCH_FUZZ_PROFILE", "ci")
_LONG = _PROFILE == "long"
ClinicalRules.TestCase.settings = settings(
    max_examples=int(os.environ.get("LYTEWATCH_FUZZ_EXAMPLES", "100000")) if _LONG else 400,
    # Sequences of 30 messages in the default run; 20 in the long one, which trades length for examples.
    stateful_step_count=int(os.environ.get("LYTEWATCH_FUZZ_STEPS", "20")) if _LONG else 30,
    deadline=None,
    database=None,
    derandomize=not _LONG,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
TestClinicalRules = ClinicalRules.TestCase


@pytest.fixture(autouse=True, scope="module")
def _print_what_was_exercised() -> Iterator[None]:
    yield
    if _LONG:
        print(f"\nmodel-based test, profile {_PROFILE}: lytewatch and the model agreed on")
        for name, n in sorted(STATS.items()):
            print(f"  {name}: {n}")
