"""The simulated hospital feed: determinism, limits, the format mix, realism and the fault mix."""

from __future__ import annotations

import io
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation

from alerts.models import AdtEvent, Analyte, LabResults, MedicationOrder, ResultStatus
from streams.errors import DecodeError
from streams.feeds import Envelope, envelope_time, write_ndjson
from streams.feeds.simulate import FaultMix, simulate

Sim = Callable[..., list[Envelope]]
Decode = Callable[[Envelope], Any]


def _bytes(envelopes: list[Envelope]) -> bytes:
    out = io.BytesIO()
    write_ndjson(envelopes, out)
    return out.getvalue()


def test_same_seed_gives_identical_output(simulated: Sim) -> None:
    faults = FaultMix(0.05, 0.05, 0.05, 0.05, 0.05)
    assert _bytes(simulated(seed=11, faults=faults)) == _bytes(simulated(seed=11, faults=faults))


def test_different_seeds_give_different_output(simulated: Sim) -> None:
    assert _bytes(simulated(seed=1)) != _bytes(simulated(seed=2))


def test_a_smaller_event_limit_gives_a_prefix(simulated: Sim) -> None:
    short, long = simulated(events=500), simulated(events=2000)
    assert len(short) == 500 and len(long) == 2000
    assert _bytes(short) == _bytes(long[:500])


def test_duration_at_rate_bounds_the_count(simulated: Sim) -> None:
    assert len(simulated(events=None, duration_s=2.0, rate=300.0)) == 600
    assert len(simulated(events=100, duration_s=2.0, rate=300.0)) == 100


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="bad"):
        FaultMix(bad=1.5)
    with pytest.raises(ValueError, match="rate"):
        list(simulate(10, 1, 10, None, 0.0, FaultMix()))


def test_envelopes_come_in_order_of_availability(simulated: Sim) -> None:
    faults = FaultMix(corrections=0.05, cancellations=0.05, duplicates=0.05, out_of_order=0.05, bad=0.0)
    first: list[Envelope] = []
    seen: set[bytes] = set()
    for envelope in simulated(events=5000, faults=faults):
        raw = orjson.dumps(envelope)
        # A re-delivered duplicate carries its original time, so only first deliveries are in order.
        if raw not in seen:
            seen.add(raw)
            first.append(envelope)
    times = [envelope_time(e) for e in first]
    assert len(first) < 4900 and None not in times
    assert times == sorted(times)  # type: ignore[type-var]


def test_every_format_of_the_contract_is_present_and_decodes(simulated: Sim, decode_envelope: Decode) -> None:
    envelopes = simulated(patients=100, events=8000, faults=FaultMix.none())
    seen: Counter[str] = Counter()
    for envelope in envelopes:
        value = envelope["value"]
        if isinstance(value, str):
            kind = value.split("\r", 1)[0].split("|")[8].split("^")[:2]
            seen["hl7:" + "^".join(kind)] += 1
            if kind == ["ORU", "R01"] and value.count("\rOBX|") > 1:
                seen["hl7:ORU several OBX"] += 1
            if any(esc in value for esc in ("\\T\\", "\\F\\", "\\S\\", "\\R\\", "\\E\\")):
                seen["hl7:escapes"] += 1
        elif "resourceType" in value:
            seen["fhir:" + value["resourceType"]] += 1
        else:
            seen["json:" + envelope["topic"]] += 1
        decoded = decode_envelope(envelope)
        assert not isinstance(decoded, DecodeError), (decoded, envelope)
        assert not decoded.rejected, (decoded.rejected, envelope)
    expected = {
        "json:labs.results",
        "json:meds.orders",
        "json:adt.events",
        "hl7:ORU^R01",
        "hl7:ORU several OBX",
        "hl7:escapes",
        "hl7:RDE^O11",
        "hl7:ADT^A01",
        "hl7:ADT^A03",
        "fhir:Observation",
        "fhir:MedicationRequest",
    }
    assert expected <= set(seen), seen


def test_fhir_resources_are_valid_r4(simulated: Sim) -> None:
    checked = Counter()
    for envelope in simulated(patients=50, events=3000, faults=FaultMix.none()):
        value = envelope["value"]
        if isinstance(value, dict) and value.get("resourceType") == "Observation":
            Observation.model_validate(value)
            checked["obs"] += 1
        elif isinstance(value, dict) and value.get("resourceType") == "MedicationRequest":
            MedicationRequest.model_validate(value)
            checked["med"] += 1
    assert checked["obs"] > 20 and checked["med"] > 20


def test_values_follow_the_mimic_demo(simulated: Sim, decode_envelope: Decode, source_rows: Any) -> None:
    real = [
        float(r["valuenum"])
        for r in source_rows("labevents")
        if r["itemid"] in ("50971", "50822") and r["valuenum"]
    ]
    real_mg = [
        round(float(r["valuenum"]) * 0.4114, 2)
        for r in source_rows("labevents")
        if r["itemid"] == "50960" and r["valuenum"]
    ]
    k: list[float] = []
    mg: list[float] = []
    for envelope in simulated(patients=300, events=30000, faults=FaultMix.none()):
        decoded = decode_envelope(envelope)
        for event in decoded.events:
            if isinstance(event, LabResults):
                for result in event.results:
                    (k if result.analyte == Analyte.POTASSIUM else mg).append(result.value)
    assert len(k) > 2000 and len(mg) > 1500
    assert abs(statistics.median(k) - statistics.median(real)) <= 0.15
    assert abs(statistics.median(mg) - statistics.median(real_mg)) <= 0.06

    def low(values: list[float], cut: float) -> float:
        return sum(v < cut for v in values) / len(values)

    assert abs(low(k, 3.5) - low(real, 3.5)) < 0.04
    assert abs(low(mg, 0.70) - low(real_mg, 0.70)) < 0.04


def test_share_of_admissions_on_a_wasting_diuretic(simulated: Sim, decode_envelope: Decode) -> None:
    admitted: set[str] = set()
    on_wasting: set[str] = set()
    for envelope in simulated(patients=100, events=30000, faults=FaultMix.none()):
        for event in decode_envelope(envelope).events:
            if isinstance(event, AdtEvent) and event.event == "admit":
                admitted.add(event.patient_id)
            elif isinstance(event, MedicationOrder) and any(
                i.drug_class.wastes_potassium_and_magnesium for i in event.ingredients
            ):
                on_wasting.add(event.patient_id)
    assert len(admitted) > 250
    # 43.6% of the demo's admissions have a loop or thiazide order; a stay can end before its first order.
    assert 0.35 <= len(on_wasting & admitted) / len(admitted) <= 0.50


def _fault_counts(envelopes: list[Envelope], decode: Decode) -> dict[str, float]:
    seen: set[bytes] = set()
    counts: Counter[str] = Counter()
    k_ids: set[str] = set()
    late = 0
    for envelope in envelopes:
        raw = orjson.dumps(envelope)
        if raw in seen:
            counts["duplicates"] += 1
            continue
        seen.add(raw)
        counts["messages"] += 1
        decoded = decode(envelope)
        if isinstance(decoded, DecodeError) or decoded.rejected:
            counts["bad"] += 1
        for event in () if isinstance(decoded, DecodeError) else decoded.events:
            if not isinstance(event, LabResults):
                continue
            for result in event.results:
                if result.status == ResultStatus.CORRECTED:
                    counts["corrections"] += 1
                elif not result.status.is_valid:
                    counts["cancellations"] += 1
                elif result.analyte == Analyte.POTASSIUM:
                    k_ids.add(result.result_id)
                    assert result.resulted_at is not None
                    late += (result.resulted_at - result.collected_at).total_seconds() > 8 * 3600
    return {
        "duplicates": counts["duplicates"] / counts["messages"],
        "bad": counts["bad"] / counts["messages"],
        "corrections": counts["corrections"] / len(k_ids),
        "cancellations": counts["cancellations"] / len(k_ids),
        "late": late / len(k_ids),
    }


def test_fault_shares_are_roughly_as_configured(simulated: Sim, decode_envelope: Decode) -> None:
    share = 0.05
    faults = FaultMix(corrections=share, cancellations=share, duplicates=share, out_of_order=share, bad=share)
    got = _fault_counts(simulated(patients=200, events=20000, seed=5, faults=faults), decode_envelope)
    clean_feed = simulated(patients=200, events=20000, seed=5, faults=FaultMix.none())
    clean = _fault_counts(clean_feed, decode_envelope)
    assert clean["duplicates"] == clean["bad"] == clean["corrections"] == clean["cancellations"] == 0
    for name in ("duplicates", "bad", "corrections", "cancellations"):
        assert share * 0.6 <= got[name] <= share * 1.4, (name, got)
    # Late results: released 2-30 h late, so most of them (not all) exceed 8 h on top of the natural tail.
    assert share * 0.5 <= got["late"] - clean["late"] <= share * 1.1, (got, clean)


def test_timestamps_carry_an_offset(simulated: Sim) -> None:
    for envelope in simulated(events=500, faults=FaultMix.none()):
        value = envelope["value"]
        if isinstance(value, dict) and "resourceType" not in value:
            for name in ("collected_at", "resulted_at", "recorded_at", "occurred_at", "start"):
                if name in value:
                    assert datetime.fromisoformat(value[name]).utcoffset() is not None
