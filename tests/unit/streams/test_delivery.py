"""Dead letters are cut down to the broker's size limit, saying so, and keep what identifies the message."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from streams.codecs.deadletter import deadletter_bytes
from streams.worker.delivery import fit_deadletter, minimal_deadletter


def letter(raw: bytes) -> bytes:
    return deadletter_bytes(
        topic="labs.results",
        partition=2,
        offset=77,
        key=b"k",
        raw=raw,
        reason="not_json",
        detail="neither JSON nor HL7 v2",
        at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_a_dead_letter_that_fits_is_sent_as_built() -> None:
    value = letter(b"x" * 1000)

    assert fit_deadletter(value, 10_000) is value


@pytest.mark.parametrize("limit", [20_000, 100_000, 999_000])
def test_an_oversized_dead_letter_is_cut_to_the_limit_and_says_so(limit: int) -> None:
    raw = bytes(range(256)) * 4000  # 1 MB

    cut = fit_deadletter(letter(raw), limit)

    assert len(cut) <= limit
    doc = orjson.loads(cut)
    kept = base64.b64decode(doc["raw"])
    assert raw.startswith(kept) and len(kept) > limit // 2
    assert doc["truncated"] == {
        "original_bytes": len(raw),
        "kept_bytes": len(kept),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
    assert doc["detail"].startswith("neither JSON nor HL7 v2 [raw truncated: first")
    where = (doc["topic"], doc["partition"], doc["offset"], doc["reason"])
    assert where == ("labs.results", 2, 77, "not_json")


def test_the_minimal_dead_letter_keeps_the_original_size_and_hash_even_of_a_cut_one() -> None:
    raw = b"y" * 50_000
    cut = fit_deadletter(letter(raw), 30_000)

    doc = orjson.loads(minimal_deadletter(cut))

    assert doc["raw"] == ""
    assert doc["truncated"]["original_bytes"] == len(raw)
    assert doc["truncated"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert doc["detail"].count("[raw truncated") == 1
    assert "first 0 of 50000 bytes kept" in doc["detail"]
