"""The MIMIC-IV demo replay feed: counts against the source tables, shapes, values and delivery order."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from streams.feeds import ENVELOPE_TOPICS, Envelope, envelope_time, paced, write_ndjson
from streams.feeds.mimic import DRUG_NAME_PATTERN, MimicCounts, count_mimic

Rows = Callable[[str], Iterator[dict[str, str]]]
Feed = tuple[list[Envelope], MimicCounts]

K_MG_ITEMIDS = {"50971", "50822", "50960"}


def _by_topic(envelopes: list[Envelope]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {topic: [] for topic in ENVELOPE_TOPICS}
    for envelope in envelopes:
        out[envelope["topic"]].append(envelope["value"])
    return out


def test_lab_results_are_exactly_the_k_and_mg_rows_of_labevents(mimic_feed: Feed, source_rows: Rows) -> None:
    envelopes, counts = mimic_feed
    rows = [r for r in source_rows("labevents") if r["itemid"] in K_MG_ITEMIDS]
    labs = _by_topic(envelopes)["labs.results"]
    assert sorted(lab["result_id"] for lab in labs) == sorted(r["labevent_id"] for r in rows)
    assert counts.emitted["labs.results"] == len(rows)
    assert counts.lab_rows_by_itemid == Counter(r["itemid"] for r in rows)
    assert counts.lab_rows_without_valuenum == sum(1 for r in rows if not r["valuenum"])


def test_each_selected_prescription_gives_an_active_and_a_completed_event(
    mimic_feed: Feed, source_rows: Rows
) -> None:
    envelopes, counts = mimic_feed
    rows = [r for r in source_rows("prescriptions") if DRUG_NAME_PATTERN.search(r["drug"])]
    orders = _by_topic(envelopes)["meds.orders"]
    by_status = Counter(order["status"] for order in orders)
    assert by_status["active"] == len(rows) == counts.emitted["meds.orders/active"]
    assert by_status["completed"] == sum(1 for r in rows if r["stoptime"])
    assert {o["order_id"] for o in orders} == {r["pharmacy_id"] for r in rows}
    assert counts.prescriptions_rows == sum(1 for _ in source_rows("prescriptions"))


def test_every_watched_drug_name_of_the_demo_is_selected(source_rows: Rows) -> None:
    # Independent of the feed's pattern: names a clinician would look for, checked one by one.
    watched = (
        "furosemide",
        "bumetanide",
        "torsemide",
        "hydrochlorothiazide",
        "chlorothiazide",
        "chlorthalidone",
        "metolazone",
        "acetazolamide",
        "spironolactone",
        "potassium chl",
        "potassium phosphate",
        "magnesium sulfate",
        "magnesium oxide",
    )
    names = {r["drug"] for r in source_rows("prescriptions")}
    relevant = {n for n in names if any(w in n.lower() for w in watched)}
    assert len(relevant) >= 15
    assert all(DRUG_NAME_PATTERN.search(n) for n in relevant)
    assert not DRUG_NAME_PATTERN.search("Heparin") and not DRUG_NAME_PATTERN.search("Acetaminophen")


def test_admissions_and_discharges_come_from_transfers(mimic_feed: Feed, source_rows: Rows) -> None:
    envelopes, counts = mimic_feed
    rows = list(source_rows("transfers"))
    adt = _by_topic(envelopes)["adt.events"]
    assert Counter(a["event"] for a in adt) == Counter(
        r["eventtype"] for r in rows if r["eventtype"] in ("admit", "discharge")
    )
    assert counts.transfers_rows == len(rows)
    admits = {(r["subject_id"], r["hadm_id"]): r["careunit"] for r in rows if r["eventtype"] == "admit"}
    for event in adt:
        if event["event"] == "admit":
            assert event["location"]["unit"] == admits[(event["patient_id"], event["encounter_id"])]


def test_values_and_times_are_carried_over_from_the_source(mimic_feed: Feed, source_rows: Rows) -> None:
    envelopes, _ = mimic_feed
    labs = {lab["result_id"]: lab for lab in _by_topic(envelopes)["labs.results"]}
    for row in source_rows("labevents"):
        if row["itemid"] not in K_MG_ITEMIDS:
            continue
        lab = labs[row["labevent_id"]]
        assert lab["patient_id"] == row["subject_id"]
        assert lab.get("encounter_id", "") == row["hadm_id"]
        assert lab["code"] == row["itemid"]
        assert lab["unit"] == row["valueuom"]
        if row["valuenum"]:
            assert lab["value"] == float(row["valuenum"])
        else:
            # Kept unusable so that it dead-letters downstream.
            assert not isinstance(lab["value"], float)
        assert lab["collected_at"] == row["charttime"].replace(" ", "T") + "+00:00"
        assert lab["resulted_at"] == row["storetime"].replace(" ", "T") + "+00:00"


def test_every_envelope_is_a_valid_input_event(mimic_feed: Feed) -> None:
    envelopes, _ = mimic_feed
    required = {
        "labs.results": ("result_id", "patient_id", "code", "unit", "collected_at"),
        "meds.orders": ("order_id", "patient_id", "medication", "status", "start", "recorded_at"),
        "adt.events": ("patient_id", "event", "occurred_at"),
    }
    for envelope in envelopes:
        assert set(envelope) == {"topic", "value"}
        value = envelope["value"]
        assert all(value.get(name) not in (None, "") for name in required[envelope["topic"]]), envelope
        for name in ("collected_at", "resulted_at", "start", "end", "recorded_at", "occurred_at"):
            if name in value:
                assert datetime.fromisoformat(value[name]).utcoffset() is not None


def test_ndjson_output_is_pure_and_round_trips(mimic_feed: Feed) -> None:
    envelopes, _ = mimic_feed
    out = io.BytesIO()
    assert write_ndjson(envelopes, out) == len(envelopes)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(envelopes)
    assert [json.loads(line) for line in lines] == envelopes


def test_events_are_delivered_in_order_of_availability(mimic_feed: Feed) -> None:
    envelopes, _ = mimic_feed
    times = [envelope_time(e) for e in envelopes]
    assert None not in times
    assert times == sorted(times)  # type: ignore[type-var]
    seen_active: set[str] = set()
    for envelope in envelopes:
        value = envelope["value"]
        if envelope["topic"] == "meds.orders":
            if value["status"] == "active":
                seen_active.add(value["order_id"])
            else:
                assert value["order_id"] in seen_active
        if envelope["topic"] == "labs.results":
            assert value["collected_at"] <= value["resulted_at"]


def test_feed_is_deterministic(mimic_feed: Feed, mimic_dir: Path) -> None:
    envelopes, counts = mimic_feed
    again = count_mimic(mimic_dir)
    assert again.as_dict() == counts.as_dict()
    assert sum(counts.emitted.values()) == len(envelopes)


def test_paced_replay_scales_hospital_time(mimic_feed: Feed) -> None:
    envelopes, _ = mimic_feed
    window = envelopes[:500]
    delays = [delay for delay, _ in paced(window, time_scale=3600.0)]
    first, last = envelope_time(window[0]), envelope_time(window[-1])
    assert first is not None and last is not None
    assert delays[0] == 0.0 and min(delays) >= 0.0
    assert abs(sum(delays) - (last - first).total_seconds() / 3600.0) < 1e-6


def test_paced_replay_caps_the_gaps_between_patients(mimic_feed: Feed) -> None:
    envelopes, _ = mimic_feed
    delays = [delay for delay, _ in paced(envelopes, time_scale=3600.0, max_delay_s=2.0)]
    # Patients are shifted into different decades: uncapped, one gap alone would last years.
    assert max(d for d, _ in paced(envelopes, time_scale=3600.0)) > 3600
    assert max(delays) == 2.0 and len(delays) == len(envelopes)
