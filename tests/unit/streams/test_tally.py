"""A batch's counts: every input message is exactly one of used, ignored or dead-lettered whole."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from prometheus_client import CollectorRegistry

from alerts.codes import DEFAULT_MAPPING
from streams.metrics import Metrics
from streams.worker.envelope import Origin
from streams.worker.ingest import ingest_message
from streams.worker.tally import BatchTally

LAB = {
    "result_id": "R1",
    "patient_id": "P",
    "code": "2823-3",
    "unit": "mmol/L",
    "collected_at": "2026-03-01T10:00:00Z",
}
ORU = "\r".join(
    [
        "MSH|^~\\&|LAB|H|LW|H|202603011000||ORU^R01|M1|P|2.5",
        "PID|1||MRN-9^^^H^MR",
        "OBR|1||F77|80048|||202603011000",
        "OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L|||||F|||202603011000",
        "OBX|2|ST|19123-9^Magnesium^LN||hemolyzed|mg/dL|||||F|||202603011000",
    ]
)


def value(metrics: Metrics, name: str, **labels: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def test_input_equals_used_plus_ignored_plus_whole_dead_letters() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.prime_topics(["labs"])
    tally = BatchTally()
    raws: list[bytes] = [
        orjson.dumps({**LAB, "value": 3.1}),  # used
        orjson.dumps({**LAB, "code": "2951-2", "value": 140}),  # ignored (sodium)
        b"\x00 not a message",  # dead-lettered whole
        ORU.encode(),  # used, its Mg part dead-lettered
    ]
    run: Callable[[bytes, int], object] = lambda raw, n: ingest_message(  # noqa: E731
        "labs",
        raw,
        Origin(topic="labs", partition=0, offset=n),
        key=None,
        tz=UTC,
        mapping=DEFAULT_MAPPING,
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )
    for n, raw in enumerate(raws):
        tally.ingested("labs", run(raw, n))  # type: ignore[arg-type]
    tally.failed("labs", "ingest")  # a message the worker failed on
    tally.failed("labs", "engine")  # a patient event of an already used message

    assert value(metrics, "lytewatch_input_messages_total") == 0  # nothing counted before the batch is done
    tally.publish(metrics)

    inputs = value(metrics, "lytewatch_input_messages_total", topic="labs")
    used = value(metrics, "lytewatch_input_used_total", topic="labs")
    ignored = value(metrics, "lytewatch_ignored_total", topic="labs")
    whole = value(metrics, "lytewatch_deadletter_total", topic="labs", stage="ingest")
    assert (inputs, used, ignored, whole) == (5, 2, 1, 2)
    assert inputs == used + ignored + whole
    assert (
        value(metrics, "lytewatch_deadletter_total", stage="ingest_partial", reason="non_numeric_value") == 1
    )
    assert value(metrics, "lytewatch_deadletter_total", stage="engine", reason="processing_error") == 1
