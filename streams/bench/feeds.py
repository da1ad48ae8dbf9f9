"""Benchmark workloads: native-JSON input records for the phases of `lytewatch bench`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from streams.feeds.simulate import FaultMix, FormatMix, simulate
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
