"""The bench's workloads: the whole lab feed's mix, and the peer job's input."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

import orjson

from alerts.codes import DEFAULT_MAPPING
from streams.bench.feeds import (
    OTHER_TEST_SHARE,
    PEER_K_LOW,
    PEER_MG_LOW,
    peer_records,
    synthetic_records,
    whole_lab_feed,
)
from streams.bench.phases import wire_format
from streams.codecs import decode


def test_whole_lab_feed_is_nine_tenths_other_tests_in_every_format() -> None:
    records = list(whole_lab_feed(5000, patients=200))
    watched = list(synthetic_records(5000, patients=200))
    other = [r for r in records if r not in set(watched)]

    assert len(records) == 5000
    assert abs(len(other) / len(records) - OTHER_TEST_SHARE) < 0.005
    # The rest is the throughput workload's records, in its order.
    assert [r for r in records if r not in set(other)] == watched[: len(records) - len(other)]
    formats = Counter(wire_format(r.value) for r in other)
    # The simulator's default weights: JSON 0.5, HL7 v2 0.35, FHIR 0.15.
    assert abs(formats["json"] / len(other) - 0.5) < 0.03
    assert abs(formats["hl7"] / len(other) - 0.35) < 0.03
    assert abs(formats["fhir"] / len(other) - 0.15) < 0.03


def test_other_tests_are_ignored_by_the_real_decoder_and_keyed_by_their_patient() -> None:
    other = [r for r in whole_lab_feed(2000, patients=50) if r.kind == "labs"]
    seen = Counter()
    for record in other:
        decoded = decode("labs", record.value, tz=UTC, mapping=DEFAULT_MAPPING)
        seen[decoded.format] += 1
        if decoded.events:
            continue  # one of the throughput workload's own K/Mg results
        assert decoded.ignored >= 1 and not decoded.rejected, (record.value[:200], decoded)
        assert record.key.decode() in record.value.decode()
    assert set(seen) == {"json", "hl7v2", "fhir"}


def test_whole_lab_feed_is_deterministic() -> None:
    assert list(whole_lab_feed(500, patients=20)) == list(whole_lab_feed(500, patients=20))
    assert list(whole_lab_feed(500, patients=20)) != list(whole_lab_feed(500, patients=20, seed=8))


def test_peer_records_order_every_patient_first_then_k_and_mg_a_third_low() -> None:
    records = list(peer_records(3000, patients=30))
    orders, labs = records[:30], records[30:]
    assert {r.kind for r in orders} == {"orders"} and len({r.key for r in orders}) == 30
    assert len(labs) == 3000 and {r.kind for r in labs} == {"labs"}
    values = [orjson.loads(r.value) for r in labs]
    low = sum(
        1
        for v in values
        if (v["code"] == "2823-3" and v["value"] < PEER_K_LOW)
        or (v["code"] == "2601-3" and v["value"] < PEER_MG_LOW)
    )
    assert Counter(v["code"] for v in values) == {"2823-3": 1500, "2601-3": 1500}
    assert 0.28 < low / len(values) < 0.39
