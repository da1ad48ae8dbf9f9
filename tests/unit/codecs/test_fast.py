"""The fast path for irrelevant traffic gives exactly the full decode's disposition, and it is taken."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.codes import DEFAULT_MAPPING
from alerts.errors import AlertsError
from streams.bench.feeds import synthetic_envelopes
from streams.codecs import DEFAULT_TOPIC_KINDS, decode
from streams.codecs.fast import certainly_ignored
from streams.codecs.native import decode_native
from streams.errors import DecodeError
from streams.feeds.mimic import iter_mimic
from streams.topic_registry import InputKind

TZ = ZoneInfo("Europe/Berlin")
MIMIC = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mimic-iv-demo"
ABSENT = object()


def full_disposition(kind: InputKind, obj: dict[str, Any]) -> str:
    """What the full decode (pydantic model, timestamps, normalisation) makes of a native JSON object."""
    try:
        decoded = decode_native(kind, obj, tz=TZ, mapping=DEFAULT_MAPPING)
    except (DecodeError, AlertsError, ValueError, TypeError, KeyError, IndexError, OverflowError):
        return "deadlettered"
    if decoded.events:
        return "used"
    return "deadlettered" if decoded.rejected else f"ignored {decoded.ignored}"


def fast_disposition(kind: InputKind, obj: dict[str, Any]) -> str:
    try:
        decoded = decode(kind, orjson.dumps(obj), tz=TZ, mapping=DEFAULT_MAPPING)
    except DecodeError:
        return "deadlettered"
    if decoded.events:
        return "used"
    return "deadlettered" if decoded.rejected else f"ignored {decoded.ignored}"


def maybe(valid: st.SearchStrategy[Any], *broken: Any) -> st.SearchStrategy[Any]:
    """Mostly a valid value; sometimes absent, null, a number, an empty string or a given broken value."""
    return st.one_of(valid, valid, valid, st.sampled_from([ABSENT, None, 42, "", " ", *broken]))


TIMES = st.sampled_from(
    ["2026-03-01T10:00:00", "2026-03-01T10:00:00+01:00", "2026-03-01 10:00", "2026-03-01", "20260301", "soon"]
)
CODES = st.sampled_from(
    ["2823-3", "6298-4", "19123-9", "2601-3", "50971", "50960", "2951-2", "2160-0", "718-7", "50983", "K+"]
)
SYSTEMS = st.sampled_from(
    [None, "http://loinc.org", "LN", "LOINC", "mimic-iv-itemid", "urn:local", "http://example.org/other"]
)
STATUSES = st.sampled_from(["final", "preliminary", "corrected", "cancelled", "entered-in-error", "FINAL"])
PLACE = st.sampled_from(["4W", "A", None, 4, ""])
LOCATION = st.fixed_dictionaries({}, optional={"unit": PLACE, "room": PLACE, "bed": PLACE})
DRUGS = st.sampled_from(
    ["furosemide 40 mg IV", "Lasix", "acetaminophen 500 mg", "heparin 5000 units", "KCl 20 mEq",
     "Milk of Magnesia", "Losartan Potassium 50 mg", "Maxzide", "pantoprazole", "spironolactone", ""]
)
ORDER_STATUSES = st.sampled_from(["active", "on-hold", "completed", "stopped", "cancelled", "draft"])


def without_absent(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    drawn = {key: draw(strategy) for key, strategy in fields.items()}
    return {key: value for key, value in drawn.items() if value is not ABSENT}


@st.composite
def lab_objects(draw: st.DrawFn) -> dict[str, Any]:
    return without_absent(
        draw,
        {
            "result_id": maybe(st.just("R1")),
            "patient_id": maybe(st.just("P1")),
            "encounter_id": maybe(st.just("E1")),
            "code": maybe(CODES),
            "system": maybe(SYSTEMS),
            "value": st.sampled_from([ABSENT, 3.1, "3.1", "<1.0", None, 140, "hemolyzed"]),
            "unit": maybe(st.sampled_from(["mmol/L", "mg/dL", "mEq/L", "g/dL"])),
            "status": maybe(STATUSES),
            "collected_at": maybe(TIMES),
            "resulted_at": maybe(TIMES),
            "location": maybe(LOCATION, [], {"unit": 4}),
            "extra": st.sampled_from([ABSENT, {"anything": [1, 2]}]),
        },
    )


@st.composite
def order_objects(draw: st.DrawFn) -> dict[str, Any]:
    medication = without_absent(
        draw,
        {
            "code": maybe(st.sampled_from(["4603", "161", "8591", "999999"])),
            "system": maybe(st.sampled_from(["http://www.nlm.nih.gov/research/umls/rxnorm", "ATC"])),
            "display": maybe(DRUGS),
        },
    )
    return without_absent(
        draw,
        {
            "order_id": maybe(st.just("O1")),
            "patient_id": maybe(st.just("P1")),
            "encounter_id": maybe(st.just("E1")),
            "medication": maybe(st.just(medication), "furosemide", []),
            "status": maybe(ORDER_STATUSES),
            "start": maybe(TIMES),
            "end": maybe(TIMES),
            "recorded_at": maybe(TIMES),
        },
    )


MESSAGES = st.one_of(st.tuples(st.just("labs"), lab_objects()), st.tuples(st.just("orders"), order_objects()))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind_and_obj=MESSAGES)
def test_the_fast_path_gives_the_full_decodes_disposition(
    kind_and_obj: tuple[InputKind, dict[str, Any]],
) -> None:
    kind, obj = kind_and_obj
    full = full_disposition(kind, obj)
    if certainly_ignored(kind, obj, tz=TZ, mapping=DEFAULT_MAPPING):
        assert full == "ignored 1", f"the fast path ignored what the full decode makes {full}: {obj}"
    assert fast_disposition(kind, obj) == full


def test_every_ignored_lab_result_of_the_feeds_takes_the_fast_path() -> None:
    """Not a vacuous property: the irrelevant traffic of the simulated and MIMIC feeds is recognised."""
    envelopes = [*synthetic_envelopes(20_000, patients=200), *iter_mimic(MIMIC)]
    taken = missed = used = 0
    for envelope in envelopes:
        kind, obj = DEFAULT_TOPIC_KINDS[envelope["topic"]], envelope["value"]
        if not isinstance(obj, dict) or kind != "labs":
            continue
        fast = certainly_ignored(kind, obj, tz=TZ, mapping=DEFAULT_MAPPING)
        full = full_disposition(kind, obj)
        if full.startswith("ignored"):
            taken += fast
            missed += not fast
        else:
            assert not fast, obj
            used += 1
    assert taken > 1000 and used > 1000, (taken, used)
    assert missed == 0
