"""Benchmark workloads: native-JSON input records for the phases of `lytewatch bench`."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams.feeds.hl7_builders import Obx, Result, iso_utc, lab_messages
from streams.feeds.produce import encode_value
from streams.feeds.simulate import FaultMix, FormatMix, simulate
from streams.feeds.simulate_figures import OTHER_LABS, UNITS
from streams.topic_registry import DEFAULT_TOPIC_KINDS

#: Event times of every workload start here (the synthetic feed's epoch), so no patient clock races ahead.
EPOCH = datetime(2025, 1, 6, tzinfo=UTC)

#: Patient-id prefix of the alerting cohort; end-to-end latency is measured on its alerts only.
COHORT_PREFIX = "LAT"

_LOINC = "http://loinc.org"
_RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True, slots=True)
class Record:
    """One input message: its input kind (labs/orders/adt/acks), Kafka key and JSON value."""

    kind: str
    key: bytes
    value: bytes


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def synthetic_envelopes(count: int, *, patients: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` replay envelopes of the synthetic hospital feed, native JSON only, without injected faults."""
    return simulate(
        patients=patients,
        seed=seed,
        events=count,
        duration_s=None,
        rate=1000.0,
        faults=FaultMix.none(),
        formats=FormatMix(json=1.0, hl7=0.0, fhir=0.0),
    )


def throughput_patients(count: int) -> int:
    """Patients of the throughput workload of `count` events (about 100 events each)."""
    return max(200, count // 100)


def synthetic_records(count: int, *, patients: int, seed: int = 7) -> Iterator[Record]:
    """`count` records of the synthetic hospital feed, native JSON only and without injected faults."""
    for envelope in synthetic_envelopes(count, patients=patients, seed=seed):
        value = envelope["value"]
        kind = DEFAULT_TOPIC_KINDS[envelope["topic"]]
        yield Record(kind, str(value["patient_id"]).encode(), orjson.dumps(value))


def loop_diuretic_order(patient_id: str, at: datetime) -> dict[str, object]:
    """An open-ended active furosemide order starting at `at`."""
    return {
        "order_id": f"{patient_id}-ORD",
        "patient_id": patient_id,
        "encounter_id": f"{patient_id}-E",
        "medication": {"code": "4603", "system": _RXNORM, "display": "furosemide 40 mg IV"},
        "status": "active",
        "start": _iso(at),
        "recorded_at": _iso(at),
        "location": {"unit": "4W", "room": "1", "bed": "A"},
    }


def lab_result(
    patient_id: str, result_id: str, analyte: str, value: float, at: datetime
) -> dict[str, object]:
    """A final K (LOINC 2823-3) or Mg (LOINC 2601-3) result in mmol/L collected at `at`."""
    return {
        "result_id": result_id,
        "patient_id": patient_id,
        "encounter_id": f"{patient_id}-E",
        "code": "2823-3" if analyte == "K" else "2601-3",
        "system": _LOINC,
        "value": value,
        "unit": "mmol/L",
        "status": "final",
        "collected_at": _iso(at),
        "location": {"unit": "4W", "room": "1", "bed": "A"},
    }


# Per cohort patient, after the diuretic order: a cycle of results where every one changes an alert.
# K 3.1 + Mg 0.62 fire KMG_COMBINED (moderate); K 2.9 escalates (high); Mg 0.45 escalates (critical);
# K 3.2 updates; K 4.1 resolves (normalized); K 3.3 fires a new episode (Mg 0.45 still current).
_COHORT_CYCLE = (("K", 3.1), ("MG", 0.62), ("K", 2.9), ("MG", 0.45), ("K", 3.2), ("K", 4.1), ("K", 3.3))
_COHORT_STEP = timedelta(minutes=10)


class AlertingCohort:
    """Patients on a loop diuretic with low K and Mg; after each patient's first two events, every event
    they send changes an alert, so the end-to-end latency has samples throughout a run.

    Event times are unique per patient: (patient id, event time) names the input that made an alert.
    """

    def __init__(self, patients: int) -> None:
        self.patients = patients
        self._sent = [0] * patients
        self._turn = itertools.cycle(range(patients))

    def next(self) -> tuple[Record, str, datetime]:
        """The next record, its patient id and its event time."""
        n = next(self._turn)
        index = self._sent[n]
        self._sent[n] = index + 1
        patient_id = f"{COHORT_PREFIX}{n:06d}"
        at = EPOCH + (index + 1) * _COHORT_STEP
        if index == 0:
            value = loop_diuretic_order(patient_id, at)
            return Record("orders", patient_id.encode(), orjson.dumps(value)), patient_id, at
        analyte, number = _COHORT_CYCLE[(index - 1) % len(_COHORT_CYCLE)]
        value = lab_result(patient_id, f"{patient_id}-R{index}", analyte, number, at)
        return Record("labs", patient_id.encode(), orjson.dumps(value)), patient_id, at


def one_result_per_patient(patients: int, *, prefix: str = "MEM") -> Iterator[Record]:
    """One normal K result for each of `patients` patients: fills the state table with `patients` entries."""
    at = EPOCH + timedelta(hours=1)
    for n in range(patients):
        patient_id = f"{prefix}{n:07d}"
        value = lab_result(patient_id, f"{patient_id}-R1", "K", 4.1, at)
        yield Record("labs", patient_id.encode(), orjson.dumps(value))


#: Share of the whole lab feed that is results of tests lytewatch does not watch (issue 11: about 90 %).
OTHER_TEST_SHARE = 0.9
#: Tests of a hospital's lab feed besides K and Mg: the chemistry of the synthetic hospital and a blood count
#: (LOINC code, name, low, high, unit); none of them is K or Mg.
OTHER_TESTS = (
    *OTHER_LABS,
    ("718-7", "Hemoglobin", 7.0, 17.0, "g/dL"),
    ("6690-2", "Leukocytes", 3.0, 18.0, "10*3/uL"),
    ("777-3", "Platelets", 80.0, 450.0, "10*3/uL"),
    ("4544-3", "Hematocrit", 25.0, 50.0, "%"),
)


def _other_test_value(rng: random.Random, entry: tuple[str, str, float, float, str]) -> float:
    _, _, low, high, _ = entry
    return round(rng.uniform(low, high), 0 if high > 20 else 1)


def other_test_record(rng: random.Random, n: int, patients: int, formats: FormatMix) -> Record:
    """One lab message carrying only results of tests lytewatch does not watch, in a format drawn by the
    simulator's weights: an ORU^R01 of a 1-3 test panel (HL7 v2), or one result (native JSON, FHIR)."""
    patient = rng.randrange(patients)
    patient_id, encounter_id = f"SIM{patient:07d}", f"ENC{patient:07d}"
    location = (UNITS[patient % len(UNITS)], str(patient % 30 + 1), "A")
    u = rng.random() * (formats.json + formats.hl7 + formats.fhir)
    fmt = "json" if u < formats.json else "hl7" if u < formats.json + formats.hl7 else "fhir"
    at = iso_utc(EPOCH.timestamp() + n)
    filler = f"FOT{n}"
    if fmt == "hl7":
        tests = rng.sample(OTHER_TESTS, rng.randint(1, 3))
        first, *panel = tests
        results = [Result(first[0], first[1], _other_test_value(rng, first), first[4], "F", filler)]
        obx = [Obx(e[0], e[1], str(_other_test_value(rng, e)), e[4]) for e in panel]
    else:
        test = rng.choice(OTHER_TESTS)
        results = [Result(test[0], test[1], _other_test_value(rng, test), test[4], "F", f"{filler}-1")]
        obx = []
    (message,) = lab_messages(fmt, control_id=f"OT{n}", patient_id=patient_id, encounter_id=encounter_id,
                              location=location, filler=filler, collected=at, released=at, results=results,
                              panel=obx)  # fmt: skip
    return Record("labs", patient_id.encode(), encode_value(message))


def whole_lab_feed(count: int, *, patients: int, seed: int = 7) -> Iterator[Record]:
    """A hospital's whole lab feed: `count` records, OTHER_TEST_SHARE of them results of other tests (native
    JSON, HL7 v2 and FHIR by the simulator's default format weights), the rest the throughput workload's
    K, Mg, order and ADT records, spread evenly through the feed."""
    rng = random.Random(seed)
    formats = FormatMix()
    watched = synthetic_records(count, patients=patients, seed=seed)
    due = 0.0
    for n in range(count):
        due += 1.0 - OTHER_TEST_SHARE
        if due >= 1.0:
            due -= 1.0
            record = next(watched, None)
            if record is not None:
                yield record
                continue
        yield other_test_record(rng, n, patients, formats)


#: Peer job thresholds: the same K and Mg cut-offs as KMG_COMBINED (mmol/L).
PEER_K_LOW, PEER_MG_LOW = 3.5, 0.70
#: (analyte, low?) -> the range a peer-job value is drawn from, and its decimals.
_PEER_RANGES = {
    ("K", True): (2.6, 3.4, 1),
    ("K", False): (3.6, 5.0, 1),
    ("MG", True): (0.45, 0.69, 2),
    ("MG", False): (0.72, 1.1, 2),
}


def peer_records(count: int, *, patients: int, seed: int = 13) -> Iterator[Record]:
    """The peer job's input: one loop-diuretic order per patient (so that lytewatch's rules apply; the peer
    apps do not read orders), then `count` native-JSON K and Mg results in mmol/L, a third of them low."""
    rng = random.Random(seed)
    for n in range(patients):
        patient_id = f"PEER{n:06d}"
        value = loop_diuretic_order(patient_id, EPOCH)
        yield Record("orders", patient_id.encode(), orjson.dumps(value))
    for n in range(count):
        patient = rng.randrange(patients)
        patient_id = f"PEER{patient:06d}"
        analyte = "K" if n % 2 == 0 else "MG"
        low_value, high_value, digits = _PEER_RANGES[analyte, rng.random() < 1 / 3]
        number = round(rng.uniform(low_value, high_value), digits)
        at = EPOCH + timedelta(minutes=n + 1)
        value = lab_result(patient_id, f"{patient_id}-R{n}", analyte, number, at)
        yield Record("labs", patient_id.encode(), orjson.dumps(value))
