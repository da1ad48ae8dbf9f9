"""Synthetic hospital feed: a deterministic census producing labs, orders and ADT in mixed wire formats."""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Any, NamedTuple

from streams.feeds import Envelope
from streams.feeds.hl7_builders import (
    Obx,
    OrderMessage,
    Result,
    adt_message,
    broken_message,
    iso_utc,
    lab_messages,
    native_adt,
    order_message,
)
from streams.feeds.simulate_figures import (
    BLOOD_GAS_K_PER_DAY,
    CHEM_DRAWS_PER_DAY,
    K_ICC,
    K_MEQ_L,
    K_MG_CORRELATION,
    LENGTH_OF_STAY_H,
    MG_ICC,
    MG_MG_DL,
    MG_MMOL_SHARE,
    MG_WITH_CHEM,
    ORDER_CLASSES,
    OTHER_DRUGS,
    OTHER_LABS,
    OTHER_ORDERS_PER_DAY,
    PCT,
    RESULT_DELAY_H,
    START,
    THIAZIDE_GIVEN_LOOP,
    UNITS,
)

__all__ = ["FaultMix", "FormatMix", "simulate"]


_RHO_REST = math.sqrt(1 - K_MG_CORRELATION**2)
_K_SHARED, _K_OWN = math.sqrt(K_ICC), math.sqrt(1 - K_ICC)
_MG_SHARED, _MG_OWN = math.sqrt(MG_ICC), math.sqrt(1 - MG_ICC)
_NON_NUMERIC = ("hemolyzed", "<1.0", "see comment", "QNS")
_UNKNOWN_UNITS = ("mg", "mmol", "U/L")
_NOTES = (
    "Specimen slightly hemolyzed & lipemic",
    "Verified by repeat analysis | tech 42",
    "Ratio K^Mg reviewed ~ see chart",
    "Path \\\\lab\\results",
)


@dataclass(frozen=True, slots=True)
class FaultMix:
    """Shares of faulty traffic; each is an independent probability per message (see docs/WORKLOADS.md)."""

    corrections: float = 0.01  # a lab message gets a later corrected re-send of one of its K/Mg results
    cancellations: float = 0.005  # ...a later cancellation (or entered-in-error); also per watched order
    duplicates: float = 0.01  # any message is delivered a second time, identical, seconds to minutes later
    out_of_order: float = 0.02  # a lab message is released 2-30 h late, after later-collected results
    bad: float = 0.005  # a message is unusable: non-numeric value, unknown unit, broken JSON or HL7

    def __post_init__(self) -> None:
        for f in fields(self):
            share = getattr(self, f.name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"FaultMix.{f.name} must be within [0, 1], got {share}")

    @classmethod
    def none(cls) -> FaultMix:
        """No faults at all: every message valid, once, in order."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class FormatMix:
    """Relative weights of the wire formats; ADT has no FHIR form here, so its FHIR share goes to JSON."""

    json: float = 0.5
    hl7: float = 0.35
    fhir: float = 0.15


def _quantile(table: tuple[float, ...], u: float) -> float:
    """Linear interpolation in a percentile table at probability u in [0, 1]."""
    p = u * 100.0
    i = min(bisect_right(PCT, p), len(PCT) - 1)
    lo_p, hi_p = PCT[i - 1], PCT[i]
    lo, hi = table[i - 1], table[i]
    return lo + (hi - lo) * (p - lo_p) / (hi_p - lo_p)


def _normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z: turns a correlated normal draw into a percentile."""
    return 0.5 * (1.0 + math.erf(z * 0.7071067811865476))


class _Patient:
    """One admission: identity, bed, and the patient's own leaning towards low or high K and Mg."""

    __slots__ = (
        "alive", "encounter_id", "location", "magnesium_z", "mg_mmol", "number", "orders", "patient_id",
        "potassium_z",
    )  # fmt: skip

    def __init__(self, number: int, rng: random.Random) -> None:
        self.number = number
        self.patient_id = f"SIM{number:07d}"
        self.encounter_id = f"ENC{number:07d}"
        self.location = (rng.choice(UNITS), str(rng.randint(1, 30)), rng.choice("AB"))
        # Standard-normal scores of this patient's K and Mg, correlated as in the demo data; each draw adds
        # its own noise to them (see draw()).
        potassium_z = rng.gauss(0.0, 1.0)
        self.potassium_z = potassium_z
        self.magnesium_z = K_MG_CORRELATION * potassium_z + _RHO_REST * rng.gauss(0.0, 1.0)
        self.mg_mmol = rng.random() < MG_MMOL_SHARE
        self.alive = True
        self.orders: dict[str, OrderMessage] = {}


class _LabDraw(NamedTuple):
    """One blood draw waiting for its results to be released."""

    patient: _Patient
    format: str
    filler: str  # the HL7 filler order number
    collected: str
    with_unwatched: bool  # the message also carries an unwatched test (sodium)


class _OrderPlan(NamedTuple):
    """A medication order to start: its class (None: an unwatched drug), renewals and durations."""

    patient: _Patient
    drug_class: str | None
    per_admission: float
    durations: tuple[float, ...]
    drug: tuple[str, str]  # (code, display)


class _Action(IntEnum):
    """What a scheduled entry of the simulation's clock does."""

    ADMIT = 0
    DRAW = 1
    GAS = 2
    ORDER = 3
    ORDER_END = 4
    DISCHARGE = 5
    EMIT = 6
    OTHER = 7


class _Hospital:
    def __init__(self, patients: int, seed: int, faults: FaultMix, formats: FormatMix) -> None:
        self.rng = random.Random(seed)
        self.faults = faults
        total = formats.json + formats.hl7 + formats.fhir
        if total <= 0 or min(formats.json, formats.hl7, formats.fhir) < 0:
            raise ValueError("FormatMix weights must be >= 0 and not all 0")
        self.cut_json, self.cut_hl7 = formats.json / total, (formats.json + formats.hl7) / total
        self.heap: list[tuple[float, int, _Action, Any]] = []
        self.seq = 0
        self.admissions = 0
        self.out: list[Envelope] = []
        for slot in range(patients):
            self.push(START + self.rng.random() * 86400.0, _Action.ADMIT, slot)

    def push(self, at: float, action: _Action, data: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, action, data))

    def pick_format(self) -> str:
        """A wire format drawn at random by the FormatMix weights (one random number)."""
        u = self.rng.random()
        return "json" if u < self.cut_json else "hl7" if u < self.cut_hl7 else "fhir"

    def control(self) -> str:
        self.seq += 1
        return f"MSG{self.seq}"

    def emit(self, topic: str, value: object, *, now: float, bad: float | None = None) -> None:
        rng, faults = self.rng, self.faults
        bad = faults.bad if bad is None else bad
        if bad and rng.random() < bad:
            value = broken_message(value, rng.random())
        envelope = {"topic": topic, "value": value}
        self.out.append(envelope)
        if faults.duplicates and rng.random() < faults.duplicates:
            self.push(now + rng.uniform(1.0, 300.0), _Action.EMIT, envelope)

    # --- patients -----------------------------------------------------------------------------------
    def admit(self, now: float, slot: int) -> None:
        rng = self.rng
        self.admissions += 1
        p = _Patient(self.admissions, rng)
        stay = _quantile(LENGTH_OF_STAY_H, rng.random()) * 3600.0
        self.push(now + stay, _Action.DISCHARGE, (slot, p))
        self.adt(now, p, "admit")
        self.push(now + rng.expovariate(CHEM_DRAWS_PER_DAY / 86400.0), _Action.DRAW, p)
        self.push(now + rng.expovariate(BLOOD_GAS_K_PER_DAY / 86400.0), _Action.GAS, p)
        self.push(now + rng.expovariate(OTHER_ORDERS_PER_DAY / 86400.0), _Action.OTHER, p)
        loop = False
        for klass, (share, per_adm, durations, drugs) in ORDER_CLASSES.items():
            if klass == "thiazide" and loop:
                share = THIAZIDE_GIVEN_LOOP
            if rng.random() >= share:
                continue
            loop = loop or klass == "loop"
            start = now + rng.random() * 0.5 * stay
            self.push(start, _Action.ORDER, _OrderPlan(p, klass, per_adm, durations, rng.choice(drugs)))

    def adt(self, now: float, p: _Patient, kind: str) -> None:
        iso = iso_utc(now)
        value: object
        if self.pick_format() == "hl7":
            trigger = "A01" if kind == "admit" else "A03"
            value = adt_message(trigger=trigger, control_id=self.control(), patient_id=p.patient_id,
                                encounter_id=p.encounter_id, location=p.location, occurred=iso)  # fmt: skip
        else:
            value = native_adt(patient_id=p.patient_id, encounter_id=p.encounter_id, kind=kind,
                               location=p.location, occurred=iso)  # fmt: skip
        self.emit("adt.events", value, now=now)

    def discharge(self, now: float, slot: int, p: _Patient) -> None:
        for order in list(p.orders.values()):
            self.end_order(now, p, order, "completed")
        p.alive = False
        self.adt(now, p, "discharge")
        self.push(now + self.rng.expovariate(1 / 7200.0), _Action.ADMIT, slot)

    # --- orders -------------------------------------------------------------------------------------
    def order_message(self, order: OrderMessage) -> object:
        fmt = self.pick_format()
        return order_message(order, fmt, self.control() if fmt == "hl7" else "")

    def start_order(self, now: float, data: _OrderPlan) -> None:
        p, klass, per_adm, durations, (code, display) = data
        if not p.alive:
            return
        rng = self.rng
        self.seq += 1
        iso = iso_utc(now)
        order = OrderMessage(
            f"ORD{self.seq}", p.patient_id, p.encounter_id, p.location, code, display, "active",
            iso, None, iso, iso,
        )  # fmt: skip
        self.emit("meds.orders", self.order_message(order), now=now)
        if klass is None:  # an unwatched drug: one event, nothing follows
            return
        p.orders[order.order_id] = order
        if self.faults.cancellations and rng.random() < self.faults.cancellations:
            self.push(now + rng.uniform(600.0, 3600.0), _Action.ORDER_END, (p, order, "cancelled", None))
            return
        end = now + _quantile(durations, rng.random()) * 3600.0
        status = "stopped" if rng.random() < 0.15 else "completed"
        follow = None
        if rng.random() < 1.0 - 1.0 / per_adm:  # renewals: a geometric count with the demo's mean
            follow = _OrderPlan(p, klass, per_adm, durations, (code, display))
        self.push(end, _Action.ORDER_END, (p, order, status, follow))

    def end_order(self, now: float, p: _Patient, order: OrderMessage, status: str) -> None:
        if p.orders.pop(order.order_id, None) is None:
            return
        iso = iso_utc(now)
        ended = replace(order, status=status, end=None if status == "cancelled" else iso, recorded_at=iso)
        self.emit("meds.orders", self.order_message(ended), now=now)

    # --- labs ---------------------------------------------------------------------------------------
    def draw(self, now: float, p: _Patient, gas: bool) -> None:
        rng = self.rng
        ek = rng.gauss(0.0, 1.0)
        em = K_MG_CORRELATION * ek + _RHO_REST * rng.gauss(0.0, 1.0)
        k = _quantile(K_MEQ_L, _normal_cdf(_K_SHARED * p.potassium_z + _K_OWN * ek))
        self.seq += 1
        rid = f"R{self.seq}"
        results: list[Result] = [
            Result("6298-4" if gas else "2823-3", "Potassium", round(k, 1), "mmol/L", "F", f"{rid}-K")
        ]
        if not gas and rng.random() < MG_WITH_CHEM:
            mg = _quantile(MG_MG_DL, _normal_cdf(_MG_SHARED * p.magnesium_z + _MG_OWN * em))
            if p.mg_mmol:
                magnesium = Result("2601-3", "Magnesium", round(mg * 0.4114, 2), "mmol/L", "F", f"{rid}-MG")
            else:
                magnesium = Result("19123-9", "Magnesium", round(mg, 1), "mg/dL", "F", f"{rid}-MG")
            results.append(magnesium)
        faults = self.faults
        delay = _quantile(RESULT_DELAY_H, rng.random()) * 3600.0
        if faults.out_of_order and rng.random() < faults.out_of_order:
            delay += rng.uniform(2.0, 30.0) * 3600.0
        released = now + delay
        lab = _LabDraw(p, self.pick_format(), f"F{rid}", iso_utc(now), not gas and rng.random() < 0.25)
        self.push(released, _Action.EMIT, (lab, results))
        for share, flag in ((faults.corrections, "C"), (faults.cancellations, "X")):
            if share and rng.random() < share:
                sent = rng.choice(results)
                value = sent.value
                if flag == "C" and isinstance(value, float):
                    value = round(value * rng.uniform(0.85, 1.15), 2)
                elif flag == "X":
                    flag, value = ("D" if rng.random() < 0.3 else "X"), None
                later = released + rng.uniform(1.0, 12.0) * 3600.0
                again = lab._replace(with_unwatched=False)
                self.push(later, _Action.EMIT, (again, [sent._replace(value=value, status=flag)]))

    def release(self, now: float, lab: _LabDraw, results: list[Result]) -> None:
        """The lab releases results; half of the bad share is a bad value or unit, half a broken message."""
        rng, bad = self.rng, self.faults.bad * 0.5
        if bad and rng.random() < bad:
            i = rng.randrange(len(results))
            if rng.random() < 0.5:
                results[i] = results[i]._replace(value=rng.choice(_NON_NUMERIC))
            else:
                results[i] = results[i]._replace(unit=rng.choice(_UNKNOWN_UNITS))
        for message in self.lab_messages(now, lab, results):
            self.emit("labs.results", message, now=now, bad=bad)

    def lab_messages(self, now: float, lab: _LabDraw, results: list[Result]) -> list[object]:
        p, fmt, filler, collected, extra = lab
        rng = self.rng
        panel: list[Obx] = []
        note = None
        if fmt == "hl7":
            control = self.control()
            if extra or len(results) > 1:
                panel = [
                    Obx(c, t, f"{rng.uniform(lo, hi):.{0 if hi > 20 else 1}f}", u)
                    for c, t, lo, hi, u in OTHER_LABS
                ]
            note = rng.choice(_NOTES) if rng.random() < 0.1 else None
        else:
            control = ""
            if extra:
                sodium = float(rng.randint(130, 148))
                results = [*results, Result("2951-2", "Sodium", sodium, "mmol/L", "F", f"{filler}-NA")]
        return lab_messages(fmt, control_id=control, patient_id=p.patient_id, encounter_id=p.encounter_id,
                            location=p.location, filler=filler, collected=collected, released=iso_utc(now),
                            results=results, panel=panel, note=note)  # fmt: skip

    # --- the clock ----------------------------------------------------------------------------------
    def run(self, limit: int | None) -> Iterator[Envelope]:
        heap, rng, out = self.heap, self.rng, self.out
        left = -1 if limit is None else limit
        while heap:
            now, _, action, data = heapq.heappop(heap)
            if action == _Action.EMIT:
                if isinstance(data, dict):  # a duplicate re-delivery: the same envelope again
                    self.out.append(data)
                else:
                    self.release(now, *data)
            elif action in (_Action.DRAW, _Action.GAS):
                p = data
                if p.alive:
                    self.draw(now, p, action == _Action.GAS)
                    rate = CHEM_DRAWS_PER_DAY if action == _Action.DRAW else BLOOD_GAS_K_PER_DAY
                    self.push(now + rng.expovariate(rate / 86400.0), action, p)
            elif action == _Action.ORDER:
                self.start_order(now, data)
            elif action == _Action.ORDER_END:
                p, order, status, follow = data
                if p.alive and order.order_id in p.orders:
                    self.end_order(now, p, order, status)
                    if follow is not None:
                        self.push(now + rng.expovariate(1 / 14400.0), _Action.ORDER, follow)
            elif action == _Action.OTHER:
                p = data
                if p.alive:
                    self.start_order(now, _OrderPlan(p, None, 1.0, (), rng.choice(OTHER_DRUGS)))
                    self.push(now + rng.expovariate(OTHER_ORDERS_PER_DAY / 86400.0), _Action.OTHER, p)
            elif action == _Action.DISCHARGE:
                slot, p = data
                self.discharge(now, slot, p)
            else:
                self.admit(now, data)
            if out:
                for envelope in out:
                    yield envelope
                    left -= 1
                    if left == 0:
                        return
                out.clear()


def simulate(
    patients: int,
    seed: int,
    events: int | None,
    duration_s: float | None,
    rate: float,
    faults: FaultMix,
    *,
    formats: FormatMix | None = None,
) -> Iterator[Envelope]:
    """Envelopes of a simulated hospital of `patients` occupied beds, in order of availability.

    Deterministic: the same arguments give the same envelopes, and a smaller `events` gives a prefix.
    The feed stops after `events` envelopes, or after `duration_s * rate` envelopes (what a producer at
    `rate` messages/s sends in `duration_s` seconds), whichever is fewer; with neither it never ends.
    Event times are simulated hospital time from 2025-01-06T00:00Z, independent of `rate`.
    """
    if patients < 1:
        raise ValueError(f"patients must be >= 1, got {patients}")
    if rate <= 0:
        raise ValueError(f"rate must be > 0 events/s, got {rate}")
    limits = [n for n in (events, None if duration_s is None else int(duration_s * rate)) if n is not None]
    limit = min(limits) if limits else None
    if limit is not None and limit <= 0:
        return
    yield from _Hospital(patients, seed, faults, formats or FormatMix()).run(limit)
