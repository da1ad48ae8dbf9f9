"""Simulated and MIMIC feeds produced to the real broker: all arrive on their topics, keyed by patient."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import hl7
import orjson
import pytest

from streams.feeds import Envelope
from streams.feeds.mimic import iter_mimic
from streams.feeds.produce import produce_envelopes
from streams.feeds.simulate import FaultMix, simulate
from tests.support.kafka import consume, create_topics

pytestmark = pytest.mark.integration

ENVELOPE_TOPICS = ("labs.results", "meds.orders", "adt.events")
MIMIC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mimic-iv-demo"


@pytest.fixture
def feed_topics(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> dict[str, str]:
    """Fresh topics (3 partitions each) for the three input kinds a feed writes."""
    topics = {name: unique_name(name.split(".")[0]) for name in ENVELOPE_TOPICS}
    asyncio.run(create_topics(kafka_bootstrap, topics.values(), partitions=3))
    return topics


def _patient_key(value: object) -> bytes | None:
    """The patient id, worked out here independently of the producer's own key function."""
    if isinstance(value, dict):
        if "patient_id" in value:
            return str(value["patient_id"]).encode()
        return str(value["subject"]["reference"]).removeprefix("Patient/").encode()
    assert isinstance(value, str)
    try:
        return str(hl7.parse(value).segment("PID")[3][0][0]).encode()
    except (hl7.ParseException, KeyError, IndexError):
        return None  # a broken message: nothing to key it by


Messages = Counter[tuple[bytes | None, bytes]]


def _expected(envelopes: list[Envelope], topics: dict[str, str]) -> dict[str, Messages]:
    out: dict[str, Messages] = {t: Counter() for t in topics.values()}
    for envelope in envelopes:
        value = envelope["value"]
        raw = value.encode() if isinstance(value, str) else orjson.dumps(value)
        key = None if isinstance(value, str) and not value.startswith("MSH|^~") else _patient_key(value)
        out[topics[envelope["topic"]]][(key, raw)] += 1
    return out


def _read_back(bootstrap: str, topics: dict[str, str], expected: dict[str, Counter]) -> dict[str, Counter]:
    got: dict[str, Counter[tuple[bytes | None, bytes]]] = {}
    for topic, messages in expected.items():
        records = asyncio.run(consume(bootstrap, topic, expected=sum(messages.values()), timeout=60.0))
        got[topic] = Counter((r.key, r.value) for r in records)
    return got


def test_a_simulated_feed_arrives_complete_per_topic(
    kafka_bootstrap: str, feed_topics: dict[str, str]
) -> None:
    faults = FaultMix(corrections=0.02, cancellations=0.02, duplicates=0.02, out_of_order=0.02, bad=0.02)
    envelopes = list(simulate(60, 3, 3000, None, 1000.0, faults))
    stats = asyncio.run(produce_envelopes(kafka_bootstrap, envelopes, feed_topics, rate=None))
    expected = _expected(envelopes, feed_topics)
    assert stats.failed == 0 and stats.first_error is None
    assert stats.acknowledged == Counter({t: sum(m.values()) for t, m in expected.items()})
    got = _read_back(kafka_bootstrap, feed_topics, expected)
    # Same messages, same keys, same bytes, per topic: HL7 text as sent, JSON objects compact.
    assert got == expected
    assert 0 < stats.unkeyed == sum(n for m in got.values() for (key, _), n in m.items() if key is None)


def test_steady_rate_and_hospital_time_pacing_deliver_everything(
    kafka_bootstrap: str, feed_topics: dict[str, str]
) -> None:
    sim = list(simulate(20, 4, 300, None, 1000.0, FaultMix.none()))
    stats = asyncio.run(produce_envelopes(kafka_bootstrap, sim, feed_topics, rate=2000.0))
    replay = [e for _, e in zip(range(200), iter_mimic(MIMIC_DIR), strict=False)]
    # One hospital hour per second, each wait capped (MIMIC patients live decades apart).
    paced = asyncio.run(
        produce_envelopes(
            kafka_bootstrap, replay, feed_topics, rate=None, time_scale=3600.0, max_delay_s=0.01
        )
    )
    assert stats.total == 300 and paced.total == 200
    expected = _expected(sim + replay, feed_topics)
    assert _read_back(kafka_bootstrap, feed_topics, expected) == expected
