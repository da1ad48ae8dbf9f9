"""The fetch filter drops only what the engine would count as ignored, keeps each partition's last record, and
hands the gap guard the dropped range and its counts with the record after it; on the one-hop path it carries
the rest past faust with that record, within its bound."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry

from alerts.codes import DEFAULT_MAPPING
from streams.bench.feeds import other_test_record
from streams.feeds.simulate import FormatMix
from streams.metrics import Metrics
from streams.settings import Settings
from streams.worker import prefilter
from streams.worker.envelope import Origin
from streams.worker.ingest import ingest_decoded, ingest_message
from streams.worker.prefilter import IgnoredInput
from streams.worker.tally import BatchTally

SETTINGS = Settings()
LABS = SETTINGS.input_topics["labs"]
ADT = SETTINGS.input_topics["adt"]
POTASSIUM = orjson.dumps(
    {
        "result_id": "R1",
        "patient_id": "P1",
        "code": "2823-3",
        "value": 3.1,
        "unit": "mmol/L",
        "collected_at": "2026-03-01T10:00:00Z",
    }
)


def other_tests(n: int) -> list[bytes]:
    """Results of tests lytewatch does not watch, in every format (JSON, HL7 v2 ORU^R01, FHIR)."""
    rng = random.Random(5)
    return [other_test_record(rng, i, 50, FormatMix()).value for i in range(n)]


def records(topic: str, values: list[bytes], first_offset: int = 100, partition: int = 0) -> list[Any]:
    return [
        ConsumerRecord(topic, partition, first_offset + n, 0, 0, b"P1", value, None, 2, len(value), [])
        for n, value in enumerate(values)
    ]


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def test_ignored_records_are_dropped_but_the_last_of_the_partition_is_kept() -> None:
    metrics = Metrics(CollectorRegistry())
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, metrics)
    others = other_tests(6)
    batch = records(LABS, [others[0], others[1], POTASSIUM, others[2], b"{not json", others[3], others[4]])
    kept = ignored.filter({TopicPartition(LABS, 0): batch})[TopicPartition(LABS, 0)]
    # The K result, the undecodable record (the engine dead-letters it) and the last record go on.
    assert [r.offset for r in kept] == [102, 104, 106]
    assert first_dropped(ignored, 102) == 100
    assert first_dropped(ignored, 104) == 103
    assert first_dropped(ignored, 106) == 105
    assert ignored.take(LABS, 0, 106) is None  # taken once


def first_dropped(ignored: IgnoredInput, offset: int, partition: int = 0) -> int | None:
    note = ignored.take(LABS, partition, offset)
    assert note is None or not note.carried
    return None if note is None else note.first


def test_on_the_one_hop_path_what_is_not_dropped_is_carried_with_the_last_record() -> None:
    metrics = Metrics(CollectorRegistry())
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, metrics)
    ignored.carry = True
    others = other_tests(6)
    batch = records(LABS, [others[0], others[1], POTASSIUM, others[2], b"{not json", others[3], others[4]])
    kept = ignored.filter({TopicPartition(LABS, 0): batch})[TopicPartition(LABS, 0)]
    # Only the last record goes through faust; the K result and the undecodable one ride with it, in order.
    assert [r.offset for r in kept] == [106]
    note = ignored.take(LABS, 0, 106)
    assert note is not None
    assert note.first == 100
    assert [r.offset for r in note.carried] == [102, 104]
    assert ignored.decoded(LABS, 0, 102) is not None  # the engine does not decode it again
    assert ignored.decoded(LABS, 0, 104) is None  # the engine decodes it, and dead-letters it
    assert value(metrics, "lytewatch_ignored_total", topic=LABS) == 4


def test_past_its_bound_the_filter_hands_records_on_instead_of_carrying_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prefilter, "_MAX_CARRIED", 2)
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, Metrics(CollectorRegistry()))
    ignored.carry = True
    fetch = {TopicPartition(LABS, 0): records(LABS, [POTASSIUM] * 5)}
    assert [r.offset for r in ignored.filter(fetch)[TopicPartition(LABS, 0)]] == [102, 103, 104]
    # The same records fetched again (faust dropped them for a pause): the old note still takes the room, so
    # they are handed on, and 102 handed on forgets its old note.
    assert [r.offset for r in ignored.filter(fetch)[TopicPartition(LABS, 0)]] == [100, 101, 102, 103, 104]
    assert ignored.take(LABS, 0, 102) is None
    # A third time, there is room again.
    assert [r.offset for r in ignored.filter(fetch)[TopicPartition(LABS, 0)]] == [102, 103, 104]
    note = ignored.take(LABS, 0, 102)
    assert note is not None
    assert [r.offset for r in note.carried] == [100, 101]
    # Taken: there is room again.
    later = {TopicPartition(LABS, 0): records(LABS, [POTASSIUM] * 3, first_offset=105)}
    assert [r.offset for r in ignored.filter(later)[TopicPartition(LABS, 0)]] == [107]


def test_a_note_of_an_earlier_record_of_the_partition_is_forgotten_when_a_later_one_is_taken() -> None:
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, Metrics(CollectorRegistry()))
    ignored.carry = True
    ignored.filter({TopicPartition(LABS, 0): records(LABS, [POTASSIUM] * 3)})
    ignored.filter({TopicPartition(LABS, 0): records(LABS, [POTASSIUM] * 3, first_offset=103)})
    ignored.filter({TopicPartition(LABS, 1): records(LABS, [POTASSIUM] * 3, partition=1)})
    # 102 never reached the engine (faust dropped it); 105 did: 102's note can never be taken any more.
    assert ignored.take(LABS, 0, 105) is not None
    assert ignored.take(LABS, 0, 102) is None
    assert ignored.take(LABS, 1, 102) is not None  # another partition's note is kept


def test_what_the_filter_decoded_of_a_kept_record_reaches_the_engine_once_and_ingests_the_same() -> None:
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, Metrics(CollectorRegistry()))
    others = other_tests(3)
    batch = records(LABS, [others[0], POTASSIUM, b"{not json", others[1], others[2]])
    ignored.filter({TopicPartition(LABS, 0): batch})

    decoded = ignored.decoded(LABS, 0, 101)
    assert decoded is not None
    origin = Origin(topic=LABS, partition=0, offset=101)
    now = datetime.now(UTC)
    from_raw = ingest_message(
        "labs", POTASSIUM, origin, key=b"P1", tz=SETTINGS.tz, mapping=DEFAULT_MAPPING, now=now
    )
    assert ingest_decoded(decoded, POTASSIUM, origin, key=b"P1", now=now) == from_raw
    assert from_raw.forward  # the K result, so the comparison says something
    assert ignored.decoded(LABS, 0, 101) is None  # taken once
    # Not decoded by the filter: the engine decodes these itself (and dead-letters the bad one).
    assert ignored.decoded(LABS, 0, 102) is None
    assert ignored.decoded(LABS, 0, 104) is None  # the last of the fetch


def test_the_counts_are_what_the_engine_would_count_for_the_same_records() -> None:
    metrics = Metrics(CollectorRegistry())
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, metrics)
    values = [*other_tests(40), POTASSIUM]
    ignored.filter({TopicPartition(LABS, 0): records(LABS, values)})
    ignored.take(LABS, 0, 140)

    expected = Metrics(CollectorRegistry())
    tally = BatchTally()
    now = datetime.now(UTC)
    for n, raw in enumerate(values[:-1]):
        outcome = ingest_message(
            "labs",
            raw,
            Origin(topic=LABS, partition=0, offset=n),
            key=None,
            tz=UTC,
            mapping=DEFAULT_MAPPING,
            now=now,
        )
        tally.ingested(LABS, outcome)
    tally.publish(expected)
    for fmt in ("json", "hl7v2", "fhir"):
        assert value(metrics, "lytewatch_input_messages_total", topic=LABS, format=fmt) == value(
            expected, "lytewatch_input_messages_total", topic=LABS, format=fmt
        )
    assert value(metrics, "lytewatch_input_messages_total", topic=LABS) == 40
    assert value(metrics, "lytewatch_ignored_total", topic=LABS) == 40
    assert value(metrics, "lytewatch_input_used_total", topic=LABS) == 0


def test_other_topics_and_single_records_pass_untouched() -> None:
    metrics = Metrics(CollectorRegistry())
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, metrics)
    others = other_tests(3)
    fetched = {
        TopicPartition(ADT, 0): records(ADT, others),
        TopicPartition(LABS, 1): records(LABS, others[:1], partition=1),
    }
    out = ignored.filter(fetched)
    assert out[TopicPartition(ADT, 0)] == fetched[TopicPartition(ADT, 0)]
    assert out[TopicPartition(LABS, 1)] == fetched[TopicPartition(LABS, 1)]
    assert ignored.take(ADT, 0, 102) is None


def test_an_assignment_forgets_the_notes_of_its_partitions() -> None:
    metrics = Metrics(CollectorRegistry())
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, metrics)
    others = other_tests(3)
    ignored.filter(
        {
            TopicPartition(LABS, 0): records(LABS, [others[0], POTASSIUM, POTASSIUM]),
            TopicPartition(LABS, 1): records(LABS, [others[1], POTASSIUM, POTASSIUM], partition=1),
        }
    )
    ignored.forget([TopicPartition(LABS, 0)])
    # Partition 0 is fetched again from its commit and noted anew; partition 1 keeps its notes.
    assert ignored.take(LABS, 0, 101) is None
    assert ignored.decoded(LABS, 0, 101) is None
    assert first_dropped(ignored, 101, partition=1) == 100
    assert ignored.decoded(LABS, 1, 101) is not None
    assert value(metrics, "lytewatch_ignored_total", topic=LABS) == 1


def test_past_its_bound_the_filter_forgets_the_oldest_decoded_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prefilter, "_MAX_DECODED", 2)
    ignored = IgnoredInput(SETTINGS, DEFAULT_MAPPING, Metrics(CollectorRegistry()))
    ignored.filter({TopicPartition(LABS, 0): records(LABS, [POTASSIUM] * 5)})
    # 100-103 decoded (104, the last, is not): the two newest kept, the engine decodes the others itself.
    assert [ignored.decoded(LABS, 0, offset) is not None for offset in range(100, 105)] == [
        False,
        False,
        True,
        True,
        False,
    ]
