"""Synthetic hospital feed: a deterministic census producing labs, orders and ADT in mixed wire formats."""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

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

__all__ = ["FaultMix", "FormatMix", "simulate"]

# --- figures from the MIMIC-IV demo v2.2 ------------------------------------------------------------
# Derived once from /work/shared/data/mimic-iv-demo/hosp (275 admissions, 1,891 inpatient days) with a
# throw-away csv+gzip script; percentiles are linear-interpolated at _PCT. Values: labevents valuenum of
# itemids 50971+50822 (K, mEq/L, n=3,321) and 50960 (Mg, mg/dL, n=2,470); delay = storetime - charttime;
# length of stay = admissions.dischtime - admittime; order durations = prescriptions stoptime - starttime
# (rows with stop > start) per class, matched by drug name.
# fmt: off
_PCT = (0, 1, 2.5, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97.5, 99, 100)
K_MEQ_L = (2.3, 3.0, 3.1, 3.3, 3.5, 3.7, 3.8, 4.0, 4.1, 4.3, 4.4, 4.7, 5.0, 5.4, 5.7, 6.2, 8.8)
MG_MG_DL = (0.9, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.0, 2.1, 2.2, 2.2, 2.4, 2.6, 2.7, 3.0, 10.0)
RESULT_DELAY_H = (0.017, 0.033, 0.05, 0.458, 0.75, 0.9, 1.033, 1.15, 1.283, 1.433, 1.633, 1.933, 2.45,
                  3.242, 4.65, 6.75, 28.9)
LENGTH_OF_STAY_H = (1.117, 3.555, 9.582, 14.18, 23.393, 48.047, 69.41, 93.763, 116.467, 141.94, 187.453,
                    242.207, 348.063, 550.602, 618.631, 730.836, 1078.267)
# Intra-class correlation of each analyte's normal scores within an admission, and the K-Mg correlation
# of normal scores in one specimen: a patient runs low or high, and K and Mg move a little together.
K_ICC, MG_ICC, K_MG_CORRELATION = 0.38, 0.44, 0.19
# Chemistry specimens with K per inpatient day; share of them with Mg (99.5% of Mg share a K specimen);
# blood-gas K (50822) per inpatient day.
CHEM_DRAWS_PER_DAY, MG_WITH_CHEM, BLOOD_GAS_K_PER_DAY = 1.28, 0.81, 0.13
# Per class: share of admissions with an order, orders per such admission, duration percentiles (h),
# (RxNorm code, display) choices. Thiazide is conditional on loop (5.1% of admissions have both).
ORDER_CLASSES: dict[str, tuple[float, float, tuple[float, ...], tuple[tuple[str, str], ...]]] = {
    "loop": (0.404, 5.14, (1, 1, 2, 3, 4, 10.4, 15, 22, 23, 23, 23, 27, 40.2, 70.3, 108.3, 152.5, 330),
             (("4603", "furosemide 40 mg IV"), ("4603", "Furosemide 20 mg PO"), ("", "Lasix 40 mg PO"),
              ("1808", "bumetanide 1 mg IV"), ("38413", "torsemide 20 mg PO"))),
    "thiazide": (0.055, 1.87, (2, 2, 2.05, 3, 5.2, 8.4, 11, 20, 23, 23, 25.4, 46.4, 81.8, 213.4, 238.2, 291.8,
                              330),
                 (("5487", "hydrochlorothiazide 25 mg PO"), ("2409", "chlorthalidone 25 mg PO"),
                  ("6916", "metolazone 5 mg PO"), ("", "Maxzide 37.5-25 mg PO"))),
    "potassium_sparing": (0.069, 1.11, (8, 8.4, 9, 9.9, 13.6, 24.8, 50.1, 67.6, 92.5, 103.8, 116.4, 134.2,
                                        160.6, 199.9, 264.9, 304, 330),
                          (("9997", "spironolactone 25 mg PO"),)),
    "carbonic_anhydrase_inhibitor": (0.011, 2.0, (23, 23, 23, 23, 23, 23, 23, 23, 23.5, 24, 27, 30, 51, 61.5,
                                                  66.8, 69.9, 72),
                                     (("167", "acetazolamide 250 mg PO"),)),
    "potassium_replacement": (0.582, 5.64, (1, 1, 2, 5, 8, 15, 23, 23, 23, 30, 46, 74, 128, 234, 374.5, 436.9,
                                            559),
                              (("8591", "potassium chloride 20 mEq PO"), ("", "KCl 40 mEq PO"),
                               ("", "Potassium Chl 20 mEq / 1000 mL D5 1/2 NS"))),
    "magnesium_replacement": (0.527, 2.97, (1, 1.2, 2, 3, 8, 16, 23, 23, 24, 41.8, 64, 119.6, 202.8, 307.8,
                                            364, 452, 559),
                              (("6585", "magnesium sulfate 2 g IV"), ("", "Magnesium Oxide 400 mg PO"))),
}
THIAZIDE_GIVEN_LOOP = 0.126
# Not from the demo (it has ~8.5 other-drug prescriptions per patient-day): a lighter stream of unwatched
# orders keeps the "ignored" path exercised without drowning the watched traffic.
OTHER_ORDERS_PER_DAY = 2.0
OTHER_DRUGS = (("5224", "heparin 5000 units SC"), ("161", "acetaminophen 650 mg PO"),
               ("40790", "pantoprazole 40 mg IV"), ("", "Losartan Potassium 50 mg PO"),
               ("", "Milk of Magnesia 30 mL PO"))
MG_MMOL_SHARE = 0.2  # patients whose lab reports Mg in mmol/L (LOINC 2601-3) instead of mg/dL (19123-9)
UNITS = ("4W", "5E", "6N", "MICU", "CVICU", "Med/Surg & Tele")
START = datetime(2025, 1, 6, tzinfo=UTC).timestamp()
_OTHER_LABS = (("2951-2", "Sodium", 135.0, 145.0, "mmol/L"), ("2075-0", "Chloride", 96.0, 108.0, "mmol/L"),
               ("2028-9", "Carbon dioxide", 20.0, 30.0, "mmol/L"),
               ("3094-0", "Urea nitrogen", 8.0, 40.0, "mg/dL"), ("2160-0", "Creatinine", 0.5, 2.5, "mg/dL"),
               ("2345-7", "Glucose", 70.0, 220.0, "mg/dL"))
# fmt: on

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
    i = min(bisect_right(_PCT, p), len(_PCT) - 1)
    lo_p, hi_p = _PCT[i - 1], _PCT[i]
    lo, hi = table[i - 1], table[i]
    return lo + (hi - lo) * (p - lo_p) / (hi_p - lo_p)


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z * 0.7071067811865476))


class _Patient:
    __slots__ = ("alive", "enc", "loc", "mg_mmol", "n", "orders", "pid", "zk", "zm")

    def __init__(self, n: int, rng: random.Random) -> None:
        self.n = n
        self.pid = f"SIM{n:07d}"
        self.enc = f"ENC{n:07d}"
        self.loc = (rng.choice(UNITS), str(rng.randint(1, 30)), rng.choice("AB"))
        zk = rng.gauss(0.0, 1.0)
        self.zk = zk
        self.zm = K_MG_CORRELATION * zk + _RHO_REST * rng.gauss(0.0, 1.0)
        self.mg_mmol = rng.random() < MG_MMOL_SHARE
        self.alive = True
        self.orders: dict[str, OrderMessage] = {}


# (patient, format, HL7 filler order number, collected, carries an unwatched test too)
_Lab = tuple[_Patient, str, str, str, bool]
# (patient, class or None for an unwatched drug, orders per admission, durations, (code, display))
_OrderPlan = tuple[_Patient, str | None, float, tuple[float, ...], tuple[str, str]]
_ADMIT, _DRAW, _GAS, _ORDER, _ORDER_END, _DISCHARGE, _EMIT, _OTHER = range(8)


class _Hospital:
    def __init__(self, patients: int, seed: int, faults: FaultMix, formats: FormatMix) -> None:
        self.rng = random.Random(seed)
        self.faults = faults
        total = formats.json + formats.hl7 + formats.fhir
        if total <= 0 or min(formats.json, formats.hl7, formats.fhir) < 0:
            raise ValueError("FormatMix weights must be >= 0 and not all 0")
        self.cut_json, self.cut_hl7 = formats.json / total, (formats.json + formats.hl7) / total
        self.heap: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.admissions = 0
        self.out: list[Envelope] = []
        for slot in range(patients):
            self.push(START + self.rng.random() * 86400.0, _ADMIT, slot)

    def push(self, at: float, action: int, data: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, action, data))

    def fmt(self) -> str:
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
            self.push(now + rng.uniform(1.0, 300.0), _EMIT, envelope)

    # --- patients -----------------------------------------------------------------------------------
    def admit(self, now: float, slot: int) -> None:
        rng = self.rng
        self.admissions += 1
        p = _Patient(self.admissions, rng)
        stay = _quantile(LENGTH_OF_STAY_H, rng.random()) * 3600.0
        self.push(now + stay, _DISCHARGE, (slot, p))
        self.adt(now, p, "admit")
        self.push(now + rng.expovariate(CHEM_DRAWS_PER_DAY / 86400.0), _DRAW, p)
        self.push(now + rng.expovariate(BLOOD_GAS_K_PER_DAY / 86400.0), _GAS, p)
        self.push(now + rng.expovariate(OTHER_ORDERS_PER_DAY / 86400.0), _OTHER, p)
        loop = False
        for klass, (share, per_adm, durations, drugs) in ORDER_CLASSES.items():
            if klass == "thiazide" and loop:
                share = THIAZIDE_GIVEN_LOOP
            if rng.random() >= share:
                continue
            loop = loop or klass == "loop"
            start = now + rng.random() * 0.5 * stay
            self.push(start, _ORDER, (p, klass, per_adm, durations, rng.choice(drugs)))

    def adt(self, now: float, p: _Patient, kind: str) -> None:
        iso = iso_utc(now)
        value: object
        if self.fmt() == "hl7":
            trigger = "A01" if kind == "admit" else "A03"
            value = adt_message(trigger=trigger, control_id=self.control(), patient_id=p.pid,
                                encounter_id=p.enc, location=p.loc, occurred=iso)  # fmt: skip
        else:
            value = native_adt(patient_id=p.pid, encounter_id=p.enc, kind=kind, location=p.loc, occurred=iso)
        self.emit("adt.events", value, now=now)

    def discharge(self, now: float, slot: int, p: _Patient) -> None:
        for order in list(p.orders.values()):
            self.end_order(now, p, order, "completed")
        p.alive = False
        self.adt(now, p, "discharge")
        self.push(now + self.rng.expovariate(1 / 7200.0), _ADMIT, slot)

    # --- orders -------------------------------------------------------------------------------------
    def order_message(self, order: OrderMessage) -> object:
        fmt = self.fmt()
        return order_message(order, fmt, self.control() if fmt == "hl7" else "")

    def start_order(self, now: float, data: _OrderPlan) -> None:
        p, klass, per_adm, durations, (code, display) = data
        if not p.alive:
            return
        rng = self.rng
        self.seq += 1
        iso = iso_utc(now)
        order = OrderMessage(
            f"ORD{self.seq}", p.pid, p.enc, p.loc, code, display, "active", iso, None, iso, iso
        )
        self.emit("meds.orders", self.order_message(order), now=now)
        if klass is None:  # an unwatched drug: one event, nothing follows
            return
        p.orders[order.order_id] = order
        if self.faults.cancellations and rng.random() < self.faults.cancellations:
            self.push(now + rng.uniform(600.0, 3600.0), _ORDER_END, (p, order, "cancelled", None))
            return
        end = now + _quantile(durations, rng.random()) * 3600.0
        status = "stopped" if rng.random() < 0.15 else "completed"
        follow = None
        if rng.random() < 1.0 - 1.0 / per_adm:  # renewals: a geometric count with the demo's mean
            follow = (p, klass, per_adm, durations, (code, display))
        self.push(end, _ORDER_END, (p, order, status, follow))

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
        k = _quantile(K_MEQ_L, _phi(_K_SHARED * p.zk + _K_OWN * ek))
        self.seq += 1
        rid = f"R{self.seq}"
        results: list[Result] = [
            ("6298-4" if gas else "2823-3", "Potassium", round(k, 1), "mmol/L", "F", f"{rid}-K")
        ]
        if not gas and rng.random() < MG_WITH_CHEM:
            mg = _quantile(MG_MG_DL, _phi(_MG_SHARED * p.zm + _MG_OWN * em))
            if p.mg_mmol:
                results.append(("2601-3", "Magnesium", round(mg * 0.4114, 2), "mmol/L", "F", f"{rid}-MG"))
            else:
                results.append(("19123-9", "Magnesium", round(mg, 1), "mg/dL", "F", f"{rid}-MG"))
        faults = self.faults
        delay = _quantile(RESULT_DELAY_H, rng.random()) * 3600.0
        if faults.out_of_order and rng.random() < faults.out_of_order:
            delay += rng.uniform(2.0, 30.0) * 3600.0
        released = now + delay
        lab: _Lab = (p, self.fmt(), f"F{rid}", iso_utc(now), not gas and rng.random() < 0.25)
        self.push(released, _EMIT, (lab, results))
        for share, flag in ((faults.corrections, "C"), (faults.cancellations, "X")):
            if share and rng.random() < share:
                code, text, value, unit, _, r = rng.choice(results)
                if flag == "C" and isinstance(value, float):
                    value = round(value * rng.uniform(0.85, 1.15), 2)
                elif flag == "X":
                    flag, value = ("D" if rng.random() < 0.3 else "X"), None
                later = released + rng.uniform(1.0, 12.0) * 3600.0
                again: _Lab = (p, lab[1], lab[2], lab[3], False)
                self.push(later, _EMIT, (again, [(code, text, value, unit, flag, r)]))

    def release(self, now: float, lab: _Lab, results: list[Result]) -> None:
        """The lab releases results; half of the bad share is a bad value or unit, half a broken message."""
        rng, bad = self.rng, self.faults.bad * 0.5
        if bad and rng.random() < bad:
            i = rng.randrange(len(results))
            code, text, value, unit, flag, r = results[i]
            if rng.random() < 0.5:
                results[i] = (code, text, rng.choice(_NON_NUMERIC), unit, flag, r)
            else:
                results[i] = (code, text, value, rng.choice(_UNKNOWN_UNITS), flag, r)
        for message in self.lab_messages(now, lab, results):
            self.emit("labs.results", message, now=now, bad=bad)

    def lab_messages(self, now: float, lab: _Lab, results: list[Result]) -> list[object]:
        p, fmt, filler, collected, extra = lab
        rng = self.rng
        panel: list[Obx] = []
        note = None
        if fmt == "hl7":
            control = self.control()
            if extra or len(results) > 1:
                panel = [
                    Obx(c, t, f"{rng.uniform(lo, hi):.{0 if hi > 20 else 1}f}", u)
                    for c, t, lo, hi, u in _OTHER_LABS
                ]
            note = rng.choice(_NOTES) if rng.random() < 0.1 else None
        else:
            control = ""
            if extra:
                sodium = float(rng.randint(130, 148))
                results = [*results, ("2951-2", "Sodium", sodium, "mmol/L", "F", f"{filler}-NA")]
        return lab_messages(fmt, control_id=control, patient_id=p.pid, encounter_id=p.enc, location=p.loc,
                            filler=filler, collected=collected, released=iso_utc(now), results=results,
                            panel=panel, note=note)  # fmt: skip

    # --- the clock ----------------------------------------------------------------------------------
    def run(self, limit: int | None) -> Iterator[Envelope]:
        heap, rng, out = self.heap, self.rng, self.out
        left = -1 if limit is None else limit
        while heap:
            now, _, action, data = heapq.heappop(heap)
            if action == _EMIT:
                if isinstance(data, dict):  # a duplicate re-delivery: the same envelope again
                    self.out.append(data)
                else:
                    self.release(now, *data)
            elif action in (_DRAW, _GAS):
                p = data
                if p.alive:
                    self.draw(now, p, action == _GAS)
                    rate = CHEM_DRAWS_PER_DAY if action == _DRAW else BLOOD_GAS_K_PER_DAY
                    self.push(now + rng.expovariate(rate / 86400.0), action, p)
            elif action == _ORDER:
                self.start_order(now, data)
            elif action == _ORDER_END:
                p, order, status, follow = data
                if p.alive and order.order_id in p.orders:
                    self.end_order(now, p, order, status)
                    if follow is not None:
                        self.push(now + rng.expovariate(1 / 14400.0), _ORDER, follow)
            elif action == _OTHER:
                p = data
                if p.alive:
                    self.start_order(now, (p, None, 1.0, (), rng.choice(OTHER_DRUGS)))
                    self.push(now + rng.expovariate(OTHER_ORDERS_PER_DAY / 86400.0), _OTHER, p)
            elif action == _DISCHARGE:
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
