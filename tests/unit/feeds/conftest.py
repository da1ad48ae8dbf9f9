"""Factory fixtures for the feed tests: the MIMIC-IV demo feed (read once) and simulated feeds."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.feeds import Envelope
from streams.feeds.mimic import MimicCounts, iter_mimic

MIMIC_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mimic-iv-demo"


@pytest.fixture(scope="session")
def mimic_dir() -> Path:
    if not (MIMIC_DIR / "hosp" / "labevents.csv.gz").is_file():
        pytest.fail(f"the MIMIC-IV demo is missing at {MIMIC_DIR}")
    return MIMIC_DIR


@pytest.fixture(scope="session")
def mimic_feed(mimic_dir: Path) -> tuple[list[Envelope], MimicCounts]:
    counts = MimicCounts()
    envelopes = list(iter_mimic(mimic_dir, counts))
    return envelopes, counts


@pytest.fixture(scope="session")
def source_rows(mimic_dir: Path) -> Callable[[str], Iterator[dict[str, str]]]:
    """Read a demo table independently of the feed code: source_rows("labevents") -> dict rows."""

    def read(table: str) -> Iterator[dict[str, str]]:
        with gzip.open(mimic_dir / "hosp" / f"{table}.csv.gz", "rt", encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)

    return read


@pytest.fixture
def simulated() -> Callable[..., list[Envelope]]:
    """Build a simulated feed as a list: simulated(patients=50, seed=1, events=2000, faults=FaultMix())."""
    from streams.feeds.simulate import FaultMix, simulate

    def build(**overrides: Any) -> list[Envelope]:
        args: dict[str, Any] = {
            "patients": 50,
            "seed": 1,
            "events": 2000,
            "duration_s": None,
            "rate": 1000.0,
            "faults": FaultMix(),
        }
        args.update(overrides)
        return list(simulate(**args))

    return build


@pytest.fixture(scope="session")
def decode_envelope() -> Callable[[Envelope], Any]:
    """Run an envelope through the real input decoder: the Decoded value, or the DecodeError raised."""
    from datetime import UTC

    import orjson

    from alerts.codes import load_code_mapping
    from streams.codecs import decode
    from streams.errors import DecodeError
    from streams.topic_registry import DEFAULT_TOPIC_KINDS as kinds

    mapping = load_code_mapping(None)

    def run(envelope: Envelope) -> Any:
        value = envelope["value"]
        raw = value.encode("utf-8") if isinstance(value, str) else orjson.dumps(value)
        try:
            return decode(kinds[envelope["topic"]], raw, tz=UTC, mapping=mapping)  # type: ignore[arg-type]
        except DecodeError as exc:
            return exc

    return run
