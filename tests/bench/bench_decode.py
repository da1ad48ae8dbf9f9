"""Benchmark (not a test): decode + validate + normalise messages/s per input format on one core.

Run from the repository root: .venv/bin/python -m tests.bench.bench_decode [--seconds 2]
Targets (docs/INGEST.md): native JSON >= 50,000/s, HL7 v2 >= 10,000/s, FHIR >= 5,000/s.
Also times the alternatives that were measured and not chosen: `hl7.parse` and fhir.resources R4B.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import hl7
import orjson

from alerts.codes import DEFAULT_MAPPING
from streams.codecs import decode
from tests.support import messages

TZ = ZoneInfo("Europe/Berlin")

# The test suite's messages (tests/support/messages.py): a Mg result in mg/dL, a furosemide order, an
# ORU^R01 with four OBX of which two are watched, an RDE^O11, a FHIR Observation and MedicationRequest.
NATIVE_LAB = orjson.dumps(messages.lab_json(code="19123-9", value=1.5, unit="mg/dL"))
NATIVE_ORDER = orjson.dumps(messages.order_json(encounter_id=None, end=None))
ORU = messages.oru(
    ("2951-2^Sodium^LN", "139", "mmol/L", "F", "202603011000"),
    ("2823-3^Potassium^LN", "3.1", "mmol/L", "F", "202603011000"),
    ("19123-9^Magnesium^LN", "1.5", "mg/dL", "F", "202603011000"),
    ("2160-0^Creatinine^LN", "1.1", "mg/dL", "F", "202603011000"),
).encode()
RDE = messages.rde(tq1_8="202603050800").encode()
OBSERVATION = messages.observation()
REQUEST = messages.medication_request()


def rate(fn: Callable[[], object], seconds: float, rounds: int = 25) -> float:
    """Calls per second of `fn`: the best of `rounds` runs of `seconds / rounds` each, after a warm-up.

    The best run, not the mean, because other processes on a shared machine only ever slow a run down.
    """
    for _ in range(200):
        fn()
    best = 0.0
    for _ in range(rounds):
        n, batch, start = 0, 200, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / rounds:
            for _ in range(batch):
                fn()
            n += batch
        best = max(best, n / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per case")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the targets say

    def dec(kind: str, raw: bytes) -> Callable[[], object]:
        return lambda: decode(kind, raw, tz=TZ, mapping=DEFAULT_MAPPING)  # type: ignore[arg-type]

    obs_bytes, req_bytes = orjson.dumps(OBSERVATION), orjson.dumps(REQUEST)
    cases: list[tuple[str, Callable[[], object], int]] = [
        ("native JSON lab result", dec("labs", NATIVE_LAB), 50_000),
        ("native JSON order", dec("orders", NATIVE_ORDER), 50_000),
        ("HL7 v2 ORU^R01 (4 OBX, 2 watched)", dec("labs", ORU), 10_000),
        ("HL7 v2 RDE^O11", dec("orders", RDE), 10_000),
        ("FHIR Observation", dec("labs", obs_bytes), 5_000),
        ("FHIR MedicationRequest", dec("orders", req_bytes), 5_000),
    ]
    print(f"{'case':45} {'msgs/s':>10} {'target':>8}")
    for name, fn, target in cases:
        r = rate(fn, args.seconds)
        print(f"{name:45} {r:10,.0f} {target:8,} {'ok' if r >= target else 'MISSED'}")

    print("\nalternatives measured (parse/validate only, no normalisation):")
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.observation import Observation

    oru_text = ORU.decode()
    alternatives: list[tuple[str, Callable[[], object]]] = [
        ("hl7.parse(ORU^R01)", lambda: hl7.parse(oru_text)),
        (
            "fhir.resources R4B Observation.model_validate_json",
            lambda: Observation.model_validate_json(obs_bytes),
        ),
        (
            "fhir.resources R4B MedicationRequest.model_validate_json",
            lambda: MedicationRequest.model_validate_json(req_bytes),
        ),
    ]
    for name, fn in alternatives:
        print(f"{name:60} {rate(fn, args.seconds):10,.0f}")


if __name__ == "__main__":
    main()
