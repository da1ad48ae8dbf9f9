"""Bench statistics: nearest-rank percentiles and histogram quantiles from scraped bucket deltas."""

from __future__ import annotations

import math
from collections.abc import Mapping


def histogram_quantile(buckets: Mapping[float, float], q: float) -> float:
    """Prometheus' histogram_quantile over cumulative counts {upper bound: count}, linear in a bucket."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound is all that can be said
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = bound, count
    return lower


def bucket_delta(
    before: Mapping[str, Mapping[tuple[tuple[str, str], ...], float]],
    after: Mapping[str, Mapping[tuple[tuple[str, str], ...], float]],
    metric: str,
) -> dict[float, float]:
    """{le: count observed between two scrapes} of a label-free histogram."""
    name = f"{metric}_bucket"
    delta: dict[float, float] = {}
    for labels, value in after.get(name, {}).items():
        le = float(dict(labels)["le"])
        delta[le] = value - before.get(name, {}).get(labels, 0.0)
    return delta


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]
