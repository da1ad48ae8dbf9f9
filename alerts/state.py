"""Per-patient state of the clinical engine, its compact encoding, and pruning of what no window needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from alerts.rulesfile import RulesConfig

__all__ = [
    "ANALYTE_K",
    "ANALYTE_MG",
    "STATE_FORMAT",
    "EvidenceKey",
    "OpenAlert",
    "PatientState",
    "StoredOrder",
    "StoredResult",
    "decode_state",
    "encode_state",
    "from_micros",
    "prune",
    "to_micros",
]

# Bumped whenever the encoded layout changes; decode refuses what it does not know rather than misread it.
STATE_FORMAT = 1

ANALYTE_K = "K"
ANALYTE_MG = "Mg"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Exact integer microseconds since the epoch (float timestamps can be off by one)."""
    return (value - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class StoredResult(NamedTuple):
    """The latest version of one lab result (by arrival); `valid` is False once cancelled/entered in error."""

    analyte: str
    valid: bool
    value: float | None
    sent_value: float | None
    sent_unit: str | None
    collected_at: int
    # Arrival order of this version; breaks ties between results collected at the same instant.
    seq: int
    # Fingerprint of every field of the message version (result_digest); None in states stored before it
    # existed, which then compare by content as they did.
    digest: str | None = None

    def same_content(self, other: StoredResult) -> bool:
        """An identical re-delivery: identical in every field (a status-only change is a new version)."""
        if self.digest is not None and other.digest is not None:
            return self.digest == other.digest
        return self[:6] == other[:6]


class StoredOrder(NamedTuple):
    """The truth of one medication order: its latest event (by recorded_at, then arrival).

    An order that contributes nothing (cancelled, entered in error, of an unwatched class, or ended so long
    ago that no window can see it) is kept as a tombstone: only `recorded_at`, so that an older event of
    the same order arriving late still cannot revive it.
    """

    recorded_at: int
    start: int | None = None
    # Effective end of the active interval [start, end); None = open-ended.
    end: int | None = None
    # (ingredient name, drug class value) of each potassium- and magnesium-wasting ingredient.
    wasting: tuple[tuple[str, str], ...] = ()
    potassium_replacement: bool = False

    @property
    def is_tombstone(self) -> bool:
        return self.start is None

    @property
    def has_interval(self) -> bool:
        """False for an order that never became active (ended at or before its start)."""
        return self.start is not None and (self.end is None or self.end > self.start)


@dataclass(frozen=True, slots=True)
class EvidenceKey:
    """Evidence identity: a change here (and only here) makes an open alert `updated`.

    A new end time on a contributing order is deliberately not part of it.
    """

    potassium_id: str | None
    potassium_value: float | None
    magnesium_id: str | None
    magnesium_value: float | None
    order_ids: tuple[str, ...]
    refractory: bool


class OpenAlert(NamedTuple):
    """The open alert of one rule: identity, revision, severity, evidence identity and acknowledgement."""

    alert_id: str
    revision: int
    severity: str
    evidence: EvidenceKey
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    acknowledged_severity: str | None = None
    # Every (by, at) acknowledgement applied to this alert, to recognise an identical re-delivery.
    ack_log: tuple[tuple[str, int], ...] = ()
    # Who acknowledged since the severity last changed: acknowledging again changes nothing.
    acked_now: tuple[str, ...] = ()


@dataclass(slots=True)
class PatientState:
    """Everything the engine remembers about one patient; times are integer microseconds since the epoch."""

    clock: int | None = None
    seq: int = 0
    results: dict[str, StoredResult] = field(default_factory=dict)
    orders: dict[str, StoredOrder] = field(default_factory=dict)
    # Keyed by rule id value.
    alerts: dict[str, OpenAlert] = field(default_factory=dict)
    # Every alert id opened during this visit; a new episode must never reuse one.
    used_alert_ids: list[str] = field(default_factory=list)
    discharged_at: int | None = None
    admitted_at: int | None = None
    location: tuple[str | None, str | None, str | None] | None = None
    encounter_id: str | None = None
    # Event time of the event that last set location/encounter; a late event must not overwrite them.
    context_time: int | None = None

    def copy(self) -> PatientState:
        """A copy safe to change without touching this one (the records themselves are immutable)."""
        return PatientState(
            clock=self.clock,
            seq=self.seq,
            results=dict(self.results),
            orders=dict(self.orders),
            alerts=dict(self.alerts),
            used_alert_ids=list(self.used_alert_ids),
            discharged_at=self.discharged_at,
            admitted_at=self.admitted_at,
            location=self.location,
            encounter_id=self.encounter_id,
            context_time=self.context_time,
        )

    @property
    def is_discharged(self) -> bool:
        return self.discharged_at is not None


# --- encoding -------------------------------------------------------------------------------------
# Positional arrays with short keys keep a typical patient's state at a few hundred bytes.


def _order_row(order: StoredOrder) -> list[Any]:
    if order.is_tombstone:
        return [order.recorded_at]
    return [
        order.recorded_at,
        order.start,
        order.end,
        [list(pair) for pair in order.wasting],
        int(order.potassium_replacement),
    ]


def _alert_row(alert: OpenAlert) -> list[Any]:
    # One flat row, the evidence in the middle: the layout of STATE_FORMAT 1, which stored tables hold;
    # the ack log and who acknowledged at this severity follow only when the last ack does not imply them.
    e = alert.evidence
    row = [
        alert.alert_id,
        alert.revision,
        alert.severity,
        e.potassium_id,
        e.potassium_value,
        e.magnesium_id,
        e.magnesium_value,
        list(e.order_ids),
        int(e.refractory),
        alert.acknowledged_by,
        alert.acknowledged_at,
        alert.acknowledged_severity,
    ]
    if (alert.ack_log, alert.acked_now) != _acks_known_from(row):
        row += [[list(pair) for pair in alert.ack_log], list(alert.acked_now)]
    return row


def _acks_known_from(row: list[Any]) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
    """The ack log a 12-field row implies: its last acknowledgement only (what rows held before the log)."""
    by, at, severity = row[9:12]
    ack_log = ((by, at),) if by is not None and at is not None else ()
    return ack_log, (by,) if by is not None and severity == row[2] else ()


def encode_state(state: PatientState) -> bytes:
    """Serialise compactly to JSON bytes (orjson)."""
    doc: dict[str, Any] = {"v": STATE_FORMAT, "c": state.clock, "s": state.seq}
    if state.results:
        # A result stored before the fingerprint existed keeps its 7 fields.
        doc["r"] = {
            rid: [r[0], int(r[1]), *(r[2:] if r.digest is not None else r[2:7])]
            for rid, r in state.results.items()
        }
    if state.orders:
        doc["o"] = {oid: _order_row(o) for oid, o in state.orders.items()}
    if state.alerts:
        doc["a"] = {rule: _alert_row(a) for rule, a in state.alerts.items()}
    if state.used_alert_ids:
        doc["u"] = state.used_alert_ids
    if state.discharged_at is not None:
        doc["d"] = state.discharged_at
    if state.admitted_at is not None:
        doc["ad"] = state.admitted_at
    if state.location is not None:
        doc["l"] = state.location
    if state.encounter_id is not None:
        doc["e"] = state.encounter_id
    if state.context_time is not None:
        doc["ct"] = state.context_time
    return orjson.dumps(doc)


def _order_from_row(row: list[Any]) -> StoredOrder:
    if len(row) == 1:
        return StoredOrder(row[0])
    return StoredOrder(row[0], row[1], row[2], tuple((p[0], p[1]) for p in row[3]), bool(row[4]))


def _alert_from_row(row: list[Any]) -> OpenAlert:
    evidence = EvidenceKey(row[3], row[4], row[5], row[6], tuple(row[7]), bool(row[8]))
    if len(row) >= 14:
        ack_log: tuple[tuple[str, int], ...] = tuple((p[0], p[1]) for p in row[12])
        acked_now: tuple[str, ...] = tuple(row[13])
    else:
        ack_log, acked_now = _acks_known_from(row)
    return OpenAlert(row[0], row[1], row[2], evidence, row[9], row[10], row[11], ack_log, acked_now)


def decode_state(data: bytes) -> PatientState:
    """The inverse of encode_state; ValueError for bytes that are not an encoded state of this format."""
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or doc.get("v") != STATE_FORMAT:
        raise ValueError(f"not a patient state of format {STATE_FORMAT}")
    location = doc.get("l")
    return PatientState(
        clock=doc["c"],
        seq=doc["s"],
        results={
            rid: StoredResult(r[0], bool(r[1]), r[2], r[3], r[4], r[5], r[6], r[7] if len(r) > 7 else None)
            for rid, r in doc.get("r", {}).items()
        },
        orders={oid: _order_from_row(o) for oid, o in doc.get("o", {}).items()},
        alerts={rule: _alert_from_row(a) for rule, a in doc.get("a", {}).items()},
        used_alert_ids=doc.get("u", []),
        discharged_at=doc.get("d"),
        admitted_at=doc.get("ad"),
        location=(location[0], location[1], location[2]) if location is not None else None,
        encounter_id=doc.get("e"),
        context_time=doc.get("ct"),
    )


# --- pruning --------------------------------------------------------------------------------------


def prune(state: PatientState, rules: RulesConfig) -> PatientState:
    """Drop (in place, and return) what no window can see again; later behaviour is unchanged.

    The clock never moves back, so anything outside every window at `clock` stays outside:
    - a K result older than both the K window and the refractory recheck horizon
      (refractory looks at K collected after s + recheck with s >= t - replacement_lookback);
    - a Mg result older than the Mg window;
    - an order whose diuretic interval ended before t - lookback (or never began) and whose replacement
      start, whatever its end, is older than t - replacement_lookback becomes a tombstone (its recorded_at
      must survive, see StoredOrder).
    """
    t = state.clock
    if t is None:
        return state
    lim = rules.limits
    k_horizon = t - max(lim.potassium_window, lim.replacement_lookback - lim.replacement_recheck)
    mg_horizon = t - lim.magnesium_window
    stale = [
        rid
        for rid, r in state.results.items()
        if r.collected_at < (k_horizon if r.analyte == ANALYTE_K else mg_horizon)
    ]
    for rid in stale:
        del state.results[rid]
    diuretic_horizon = t - lim.diuretic_lookback
    replacement_horizon = t - lim.replacement_lookback
    for oid, order in list(state.orders.items()):
        if order.is_tombstone:
            continue
        start = order.start
        assert start is not None
        alive = (
            order.wasting and order.has_interval and (order.end is None or order.end > diuretic_horizon)
        ) or (order.potassium_replacement and start >= replacement_horizon)
        if not alive:
            state.orders[oid] = StoredOrder(order.recorded_at)
    return state
