"""The peer job both peer apps run: the latest K and Mg per patient, and a record whenever both are low.

Plain Python and orjson only: the Quix Streams peer imports this from its own virtualenv (quixstreams pins
an older pydantic than lytewatch, so the two cannot share one; docs/BENCHMARKS.md "Peers").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

#: The per-patient value: analyte ("k" or "mg") -> [value in mmol/L, collected_at as sent].
Latest = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class PeerJob:
    """Where a peer app reads and writes, and what it looks for; handed to the peer process as a JSON file."""

    bootstrap: str
    group: str
    input_topic: str
    output_topic: str
    state_dir: str
    partitions: int
    k_codes: tuple[str, ...]
    mg_codes: tuple[str, ...]
    k_low: float
    mg_low: float

    def write(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> PeerJob:
        raw = orjson.loads(path.read_bytes())
        return cls(**{**raw, "k_codes": tuple(raw["k_codes"]), "mg_codes": tuple(raw["mg_codes"])})


def step(job: PeerJob, latest: Latest | None, raw: bytes) -> tuple[Latest | None, bytes | None]:
    """Apply one native-JSON lab result: (the new per-patient value or None if unchanged, the output record
    or None). A result older than the one kept for its analyte changes nothing."""
    result = orjson.loads(raw)
    code = result.get("code")
    analyte = "k" if code in job.k_codes else "mg" if code in job.mg_codes else None
    if analyte is None:
        return None, None
    value, at = float(result["value"]), result["collected_at"]
    kept = latest or {}
    if analyte in kept and kept[analyte][1] > at:
        return None, None
    updated = {**kept, analyte: [value, at]}
    k, mg = updated.get("k"), updated.get("mg")
    if k is None or mg is None or k[0] >= job.k_low or mg[0] >= job.mg_low:
        return updated, None
    record = {"patient_id": result["patient_id"], "k": k[0], "mg": mg[0], "at": at}
    return updated, orjson.dumps(record)
