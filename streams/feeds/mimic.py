"""MIMIC-IV demo replay feed: K/Mg labs, diuretic and K/Mg orders, admissions and discharges as envelopes."""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.codes import MIMIC
from streams.feeds import Envelope

__all__ = [
    "DRUG_NAME_PATTERN",
    "MIMIC_ATTRIBUTION",
    "MIMIC_LAB_ITEMIDS",
    "MimicCounts",
    "count_mimic",
    "iter_mimic",
]

MIMIC_ATTRIBUTION = (
    "Derived from the MIMIC-IV Clinical Database Demo v2.2 (Johnson A, Bulgarelli L, Pollard T, Horng S, "
    "Celi LA, Mark R; PhysioNet 2023; https://doi.org/10.13026/dp1f-ex47), licensed under the Open Data "
    "Commons Open Database License v1.0 (ODbL). This output is a derived database: it stays under ODbL "
    "and must keep this attribution."
)

# 50971 chemistry potassium, 50822 blood-gas (whole blood) potassium, 50960 magnesium.
MIMIC_LAB_ITEMIDS = frozenset({"50971", "50822", "50960"})

# Deliberately broad: any diuretic, any potassium or magnesium product. The ingest classifier, not this
# feed, decides what is watched, so salts (losartan potassium) and laxatives (milk of magnesia) pass here.
DRUG_NAME_PATTERN = re.compile(
    r"furosemide|lasix|bumetanide|bumex|torsemide|torasemide|demadex|ethacryn|edecrin|thiazide|"
    r"chlorthalidone|indapamide|metolazone|zaroxolyn|acetazolamide|diamox|methazolamide|spironolactone|"
    r"aldactone|eplerenone|inspra|amiloride|midamor|triamterene|dyrenium|maxzide|dyazide|potassium|"
    r"\bkcl\b|k-dur|klor-con|micro-k|k-phos|magnesium|magnesia|mag-ox",
    re.IGNORECASE,
)

# Within one instant: an admission first, then order starts, results, order ends, a discharge last.
_RANK_ADMIT, _RANK_ORDER_START, _RANK_LAB, _RANK_ORDER_END, _RANK_DISCHARGE = range(5)


@dataclass
class MimicCounts:
    """Source rows read and selected per table, and events emitted per kind, to check against the source."""

    labevents_rows: int = 0
    lab_rows_by_itemid: Counter[str] = field(default_factory=Counter)
    lab_rows_without_valuenum: int = 0
    prescriptions_rows: int = 0
    prescription_rows_selected: int = 0
    prescription_rows_without_stoptime: int = 0
    prescription_rows_stop_before_start: int = 0
    prescription_rows_fallback_id: int = 0
    transfers_rows: int = 0
    transfer_rows_by_eventtype: Counter[str] = field(default_factory=Counter)
    # Keys: "labs.results", "meds.orders/active", "meds.orders/completed", "adt.events/admit",
    # "adt.events/discharge".
    emitted: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "labevents_rows": self.labevents_rows,
            "lab_rows_by_itemid": dict(sorted(self.lab_rows_by_itemid.items())),
            "lab_rows_without_valuenum": self.lab_rows_without_valuenum,
            "prescriptions_rows": self.prescriptions_rows,
            "prescription_rows_selected": self.prescription_rows_selected,
            "prescription_rows_without_stoptime": self.prescription_rows_without_stoptime,
            "prescription_rows_stop_before_start": self.prescription_rows_stop_before_start,
            "prescription_rows_fallback_id": self.prescription_rows_fallback_id,
            "transfers_rows": self.transfers_rows,
            "transfer_rows_by_eventtype": dict(sorted(self.transfer_rows_by_eventtype.items())),
            "emitted": dict(sorted(self.emitted.items())),
        }


def _utc(naive: str) -> str:
    """MIMIC's naive 'YYYY-MM-DD HH:MM:SS' (already shifted, UTC by convention) -> ISO 8601 with +00:00."""
    return naive.replace(" ", "T") + "+00:00"


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


# (availability time as MIMIC text, rank, numeric tie-breaker, kind for counting, envelope)
_Item = tuple[str, int, int, str, Envelope]


def _labs(hosp: Path, counts: MimicCounts) -> list[_Item]:
    items: list[_Item] = []
    with gzip.open(hosp / "labevents.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        col = {name: i for i, name in enumerate(next(reader))}
        i_id, i_subj, i_hadm, i_item = col["labevent_id"], col["subject_id"], col["hadm_id"], col["itemid"]
        i_chart, i_store, i_value = col["charttime"], col["storetime"], col["value"]
        i_num, i_uom = col["valuenum"], col["valueuom"]
        for row in reader:
            counts.labevents_rows += 1
            itemid = row[i_item]
            if itemid not in MIMIC_LAB_ITEMIDS:
                continue
            counts.lab_rows_by_itemid[itemid] += 1
            num = row[i_num]
            value: float | str | None
            if num:
                value = float(num)
            else:
                counts.lab_rows_without_valuenum += 1
                # Kept as sent (or null) so that it dead-letters downstream rather than vanishing here.
                value = row[i_value] or None
            event: dict[str, Any] = {
                "result_id": row[i_id],
                "patient_id": row[i_subj],
                "code": itemid,
                "system": MIMIC,
                "value": value,
                "unit": row[i_uom] or None,
                "status": "final",
                "collected_at": _utc(row[i_chart]),
            }
            if row[i_hadm]:
                event["encounter_id"] = row[i_hadm]
            available = row[i_store] or row[i_chart]
            if row[i_store]:
                event["resulted_at"] = _utc(row[i_store])
            envelope = {"topic": "labs.results", "value": event}
            items.append((available, _RANK_LAB, int(row[i_id]), "labs.results", envelope))
    return items


def _fallback_order_id(row: dict[str, str], seen: Counter[str]) -> str:
    """A stable id for a row whose pharmacy_id is empty or already used: a hash of its content."""
    parts = "|".join(
        row.get(name, "")
        for name in ("subject_id", "hadm_id", "poe_id", "poe_seq", "starttime", "stoptime", "drug", "route")
    )
    digest = hashlib.sha1(parts.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    seen[digest] += 1
    return f"mimic-rx-{digest}" + (f"-{seen[digest]}" if seen[digest] > 1 else "")


def _orders(hosp: Path, counts: MimicCounts) -> list[_Item]:
    items: list[_Item] = []
    used_ids: set[str] = set()
    hashes: Counter[str] = Counter()
    for index, row in enumerate(_rows(hosp / "prescriptions.csv.gz")):
        counts.prescriptions_rows += 1
        if not DRUG_NAME_PATTERN.search(row["drug"]) or not row["starttime"]:
            continue
        counts.prescription_rows_selected += 1
        order_id = row["pharmacy_id"]
        if not order_id or order_id in used_ids:
            counts.prescription_rows_fallback_id += 1
            order_id = _fallback_order_id(row, hashes)
        used_ids.add(order_id)
        start, stop = row["starttime"], row["stoptime"]
        base: dict[str, Any] = {"order_id": order_id, "patient_id": row["subject_id"]}
        if row["hadm_id"]:
            base["encounter_id"] = row["hadm_id"]
        base["medication"] = {"display": row["drug"]}
        # Dose and route as prescribed: extra fields (EVENTS.md lets producers add them) for the patient page.
        dose = " ".join(part for part in (row.get("dose_val_rx", ""), row.get("dose_unit_rx", "")) if part)
        if dose:
            base["dose"] = dose
        if row.get("route"):
            base["route"] = row["route"]
        active = {**base, "status": "active", "start": _utc(start), "recorded_at": _utc(start)}
        items.append(
            (start, _RANK_ORDER_START, index, "meds.orders/active", {"topic": "meds.orders", "value": active})
        )
        if not stop:
            counts.prescription_rows_without_stoptime += 1
            continue
        if stop < start:
            counts.prescription_rows_stop_before_start += 1
        # A stop before the start (a data-entry artefact) cannot be known before the order starts, so the
        # ending is recorded at the start: the order's truth is then the ended, empty interval.
        recorded = max(start, stop)
        completed = {
            **base,
            "status": "completed",
            "start": _utc(start),
            "end": _utc(stop),
            "recorded_at": _utc(recorded),
        }
        items.append(
            (
                recorded,
                _RANK_ORDER_END,
                index,
                "meds.orders/completed",
                {"topic": "meds.orders", "value": completed},
            )
        )
    return items


def _adt(hosp: Path, counts: MimicCounts) -> list[_Item]:
    items: list[_Item] = []
    for row in _rows(hosp / "transfers.csv.gz"):
        counts.transfers_rows += 1
        kind = row["eventtype"]
        counts.transfer_rows_by_eventtype[kind] += 1
        if kind not in ("admit", "discharge") or not row["intime"]:
            continue
        event: dict[str, Any] = {"patient_id": row["subject_id"]}
        if row["hadm_id"]:
            event["encounter_id"] = row["hadm_id"]
        event["event"] = kind
        if row["careunit"]:
            event["location"] = {"unit": row["careunit"]}
        event["occurred_at"] = _utc(row["intime"])
        rank = _RANK_ADMIT if kind == "admit" else _RANK_DISCHARGE
        items.append(
            (
                row["intime"],
                rank,
                int(row["transfer_id"]),
                f"adt.events/{kind}",
                {"topic": "adt.events", "value": event},
            )
        )
    return items


def iter_mimic(data_dir: Path, counts: MimicCounts | None = None) -> Iterator[Envelope]:
    """Envelopes from the MIMIC-IV demo in the order a live feed would have delivered them.

    `data_dir` is the demo's root (holding `hosp/`) or `hosp/` itself. Labs are ordered by storetime
    (when the lab released them), orders by their event time, ADT by intime; ties are broken by kind
    (admit, order start, lab, order end, discharge), then by source id. When `counts` is given it is
    filled with the source row counts before the first envelope, and with emitted counts as they go.
    """
    hosp = data_dir / "hosp" if (data_dir / "hosp").is_dir() else data_dir
    counts = MimicCounts() if counts is None else counts
    items = _labs(hosp, counts) + _orders(hosp, counts) + _adt(hosp, counts)
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    for _, _, _, kind, envelope in items:
        counts.emitted[kind] += 1
        yield envelope


def count_mimic(data_dir: Path) -> MimicCounts:
    """Run the whole feed without keeping it, and return its counts."""
    counts = MimicCounts()
    for _ in iter_mimic(data_dir, counts):
        pass
    return counts
