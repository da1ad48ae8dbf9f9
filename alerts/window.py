"""The definitions of CLINICAL_RULES.md as pure functions of patient state and the patient clock t."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.rulesfile import RulesConfig
from alerts.state import ANALYTE_K, ANALYTE_MG, PatientState, StoredOrder, StoredResult

__all__ = [
    "Snapshot",
    "current_magnesium",
    "current_potassium",
    "current_result",
    "is_refractory",
    "snapshot",
    "wasting_diuretics",
]


def current_result(state: PatientState, analyte: str, t: int, window: int) -> tuple[str, StoredResult] | None:
    """The valid result of `analyte` with the latest collected_at in [t - window, t]; ties: later arrival."""
    best: tuple[str, StoredResult] | None = None
    lower = t - window
    for rid, r in state.results.items():
        if r.analyte != analyte or not r.valid or r.value is None:
            continue
        if not lower <= r.collected_at <= t:
            continue
        if best is None or (r.collected_at, r.seq) > (best[1].collected_at, best[1].seq):
            best = (rid, r)
    return best


def current_potassium(state: PatientState, t: int, rules: RulesConfig) -> tuple[str, StoredResult] | None:
    return current_result(state, ANALYTE_K, t, rules.limits.potassium_window)


def current_magnesium(state: PatientState, t: int, rules: RulesConfig) -> tuple[str, StoredResult] | None:
    return current_result(state, ANALYTE_MG, t, rules.limits.magnesium_window)


def wasting_diuretics(state: PatientState, t: int, rules: RulesConfig) -> list[tuple[str, StoredOrder]]:
    """Wasting-diuretic orders whose interval [start, end) overlaps [t - lookback, t], by start then id."""
    lower = t - rules.limits.diuretic_lookback
    found = [
        (oid, o)
        for oid, o in state.orders.items()
        if o.wasting
        and o.has_interval
        and o.start is not None
        and o.start <= t
        and (o.end is None or o.end > lower)
    ]
    found.sort(key=lambda item: (item[1].start, item[0]))
    return found


def is_refractory(state: PatientState, t: int, rules: RulesConfig) -> bool:
    """K replacement started at s in [t - lookback, t - recheck], and every valid K after s + recheck is low.

    "Every valid K" needs at least one; K exactly at s + recheck is not "after" and does not count.
    A replacement counts from its start whatever its end: a single dose (end == start) is potassium given.
    """
    lim = rules.limits
    starts = sorted(
        o.start
        for o in state.orders.values()
        if o.potassium_replacement
        and o.start is not None
        and t - lim.replacement_lookback <= o.start <= t - lim.replacement_recheck
    )
    if not starts:
        return False
    low = rules.thresholds.potassium_low
    potassium = [
        r
        for r in state.results.values()
        if r.analyte == ANALYTE_K and r.valid and r.value is not None and r.collected_at <= t
    ]
    for s in starts:
        after = [r.value for r in potassium if r.collected_at > s + lim.replacement_recheck]
        if after and all(v is not None and v < low for v in after):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the rules see at t: current K and Mg (id, result), contributing diuretics and refractoriness."""

    t: int
    potassium: tuple[str, StoredResult] | None
    magnesium: tuple[str, StoredResult] | None
    diuretics: tuple[tuple[str, StoredOrder], ...]
    refractory: bool

    @property
    def on_wasting_diuretic(self) -> bool:
        return bool(self.diuretics)


def snapshot(state: PatientState, t: int, rules: RulesConfig) -> Snapshot:
    return Snapshot(
        t=t,
        potassium=current_potassium(state, t, rules),
        magnesium=current_magnesium(state, t, rules),
        diuretics=tuple(wasting_diuretics(state, t, rules)),
        refractory=is_refractory(state, t, rules),
    )
