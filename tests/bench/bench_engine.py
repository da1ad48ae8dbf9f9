"""Benchmark (not a test): clinical-engine events/s, counting state decode + apply + encode like the worker.

Run: .venv/bin/python tests/bench/bench_engine.py [--events 100000] [--patients 10000] [--seed 7]
Target (the worker's budget): >= 20,000 events/s on one core.
The synthetic stream interleaves patients; each gets an admission, diuretic and KCl orders, K/Mg results
(some low, some corrected or cancelled), acknowledgements and a discharge, in roughly event-time order.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from alerts.engine import PatientEventType, apply
from alerts.lifecycle import alert_id_for
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    AdtKind,
    Analyte,
    DrugClass,
    Ingredient,
    LabResult,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    ResultStatus,
    RuleId,
)
from alerts.rulesfile import RulesConfig
from alerts.state import decode_state, encode_state

T0 = datetime(2026, 3, 1, tzinfo=UTC)
FUROSEMIDE = (Ingredient(name="furosemide", drug_class=DrugClass.LOOP),)
KCL = (Ingredient(name="potassium chloride", drug_class=DrugClass.POTASSIUM_REPLACEMENT),)


def _patient_events(rng: random.Random, pid: str, n: int) -> list[tuple[float, PatientEventType]]:
    """About n events of one patient, each with its event time in hours (for interleaving)."""
    out: list[tuple[float, PatientEventType]] = []
    h = rng.uniform(0, 48)
    loc = Location(unit=rng.choice(["4W", "5E", "ICU"]), room=str(rng.randint(1, 30)), bed="A")
    out.append(
        (h, AdtEvent(patient_id=pid, event=AdtKind.ADMIT, location=loc, occurred_at=T0 + timedelta(hours=h)))
    )
    at = T0 + timedelta(hours=h)
    out.append(
        (
            h,
            MedicationOrder(
                order_id=f"{pid}-o1",
                patient_id=pid,
                display="furosemide 40 mg IV",
                ingredients=FUROSEMIDE,
                status=OrderStatus.ACTIVE,
                start=at,
                recorded_at=at,
            ),
        )
    )
    k_ids: list[str] = []
    for i in range(n - 3):
        h += rng.uniform(1, 8)
        at = T0 + timedelta(hours=h)
        roll = rng.random()
        if roll < 0.6:
            rid = f"{pid}-r{i}"
            results = [
                LabResult(
                    result_id=rid,
                    patient_id=pid,
                    analyte=Analyte.POTASSIUM,
                    code="2823-3",
                    value=round(rng.uniform(2.6, 4.2), 1),
                    sent_value=None,
                    sent_unit="mmol/L",
                    collected_at=at,
                    location=loc,
                )
            ]
            k_ids.append(rid)
            if rng.random() < 0.5:
                results.append(
                    LabResult(
                        result_id=f"{pid}-m{i}",
                        patient_id=pid,
                        analyte=Analyte.MAGNESIUM,
                        code="19123-9",
                        value=round(rng.uniform(0.45, 0.95), 2),
                        sent_value=1.2,
                        sent_unit="mg/dL",
                        collected_at=at,
                    )
                )
            out.append((h, LabResults(patient_id=pid, results=tuple(results))))
        elif roll < 0.7 and k_ids:
            status = rng.choice([ResultStatus.CORRECTED, ResultStatus.CANCELLED])
            rid = rng.choice(k_ids)
            value = round(rng.uniform(2.6, 4.2), 1) if status is ResultStatus.CORRECTED else None
            result = LabResult(
                result_id=rid,
                patient_id=pid,
                analyte=Analyte.POTASSIUM,
                code="2823-3",
                status=status,
                value=value,
                collected_at=at,
            )
            out.append((h, LabResults(patient_id=pid, results=(result,))))
        elif roll < 0.8:
            out.append(
                (
                    h,
                    MedicationOrder(
                        order_id=f"{pid}-kcl{i}",
                        patient_id=pid,
                        display="KCl 20 mEq PO",
                        ingredients=KCL,
                        status=OrderStatus.COMPLETED,
                        start=at,
                        end=at + timedelta(hours=1),
                        recorded_at=at,
                    ),
                )
            )
        elif roll < 0.9 and k_ids:
            alert_id = alert_id_for(pid, rng.choice(list(RuleId)), rng.choice(k_ids))
            out.append((h, Acknowledgement(alert_id=alert_id, patient_id=pid, by="rn7", at=at)))
        else:
            out.append((h, AdtEvent(patient_id=pid, event=AdtKind.TRANSFER, location=loc, occurred_at=at)))
    h += rng.uniform(1, 8)
    out.append((h, AdtEvent(patient_id=pid, event=AdtKind.DISCHARGE, occurred_at=T0 + timedelta(hours=h))))
    return out


def build_stream(events: int, patients: int, seed: int) -> list[PatientEventType]:
    rng = random.Random(seed)
    per = max(4, events // patients)
    timed = [e for p in range(patients) for e in _patient_events(rng, f"MRN{p:06d}", per)]
    timed.sort(key=lambda item: item[0])
    return [e for _, e in timed[:events]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stream = build_stream(args.events, args.patients, args.seed)
    rules = RulesConfig()
    table: dict[str, bytes] = {}
    alerts = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for event in stream:
        raw = table.get(event.patient_id)
        state = decode_state(raw) if raw is not None else None
        state, emitted = apply(state, event, rules)
        table[event.patient_id] = encode_state(state)
        alerts += len(emitted)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    sizes = sorted(len(v) for v in table.values())
    print(f"events:            {len(stream):,} for {len(table):,} patients")
    print(f"alert events:      {alerts:,}")
    print(f"elapsed:           {elapsed:.2f} s")
    print(f"throughput:        {len(stream) / elapsed:,.0f} events/s wall clock (decode + apply + encode)")
    # On a shared machine wall clock includes time other processes had the core; CPU time does not.
    print(f"per CPU second:    {len(stream) / cpu:,.0f} events/s (process CPU time {cpu:.2f} s)")
    print(f"state size:        median {sizes[len(sizes) // 2]} B, max {sizes[-1]} B")


if __name__ == "__main__":
    main()
