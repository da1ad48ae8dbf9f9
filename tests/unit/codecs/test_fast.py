"""The fast path for irrelevant traffic gives exactly the full decode's disposition, and it is taken."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.codes import DEFAULT_MAPPING
from alerts.errors import AlertsError
from streams.bench.feeds import synthetic_envelopes, whole_lab_feed
from streams.codecs import DEFAULT_TOPIC_KINDS, decode
from streams.codecs.fast import certainly_ignored, ignored_oru
from streams.codecs.hl7v2 import decode_hl7
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
    [
        "furosemide 40 mg IV",
        "Lasix",
        "acetaminophen 500 mg",
        "heparin 5000 units",
        "KCl 20 mEq",
        "Milk of Magnesia",
        "Losartan Potassium 50 mg",
        "Maxzide",
        "pantoprazole",
        "spironolactone",
        "",
    ]
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


# --- HL7 v2 ORU^R01 -------------------------------------------------------------------------------------

OBX3 = st.sampled_from(
    [
        "2345-7^Glucose^LN",
        "2823-3^Potassium^LN",
        "19123-9^Magnesium^LN",
        "50971^Potassium^mimic-iv-itemid",
        "2823-3^Potassium^LOCALSYS",
        "X1^Local K^L^2823-3^Potassium^LN",
        "X1^Local^L^718-7^Hb^LN",
        "2823-3\\S\\x^K^LN",
        # Unescaped, these are potassium codes.
        "\\X32\\823-3^Potassium^LN",
        "X1^Local^L^2823-3\\H\\^Potassium^LN",
        "2823-3&sub^K^LN~2345-7^Glucose^LN",
        "^^",
        "",
    ]
)
OBX11 = st.sampled_from(["F", "P", "C", "X", "I", "N", "", "f", "\\T\\", "\\H\\F", "\\H\\I"])
# Mostly what the fast path answers for, so that its answers are many.
MSH9 = st.one_of(
    st.just("ORU^R01^ORU_R01"),
    st.sampled_from(["ORU^R01", "oru^r01", "ORU^R30", "ADT^A01", "ORU", "", "ORU\\S\\R01", "\\H\\ORU^R01"]),
)
PID3 = st.one_of(
    st.just("SIM1^^^H^MR"), st.sampled_from(["", "^^^H^MR", " P2 ", "P\\T\\3", "P4~P5", "\\H\\^^^H^MR"])
)
OTHER = st.sampled_from(
    ["NTE|1||comment", "PV1|1|I|Med/Surg \\T\\ Tele^24^A", "ZZ1|x", "zz1|x", " OBX|9", "", "NTE|1||a\nb"]
)
ENDINGS = st.sampled_from(["\r", "\r", "\r", "\r", "\r\n", "\n"])


@st.composite
def oru_messages(draw: st.DrawFn) -> str:
    segments = [f"MSH|^~\\&|LAB|H|LW|H|20260301100000||{draw(MSH9)}|C1|P|2.5.1"]
    if draw(st.booleans()) or draw(st.booleans()):
        segments.append(f"PID|1||{draw(PID3)}")
    segments += draw(st.lists(OTHER, max_size=2))
    segments.append("OBR|1||F1|CHEM^Chemistry^L|||20260301100000")
    for n in range(draw(st.integers(min_value=0, max_value=3))):
        segments.append(f"OBX|{n + 1}|NM|{draw(OBX3)}||4.1|mmol/L|||||{draw(OBX11)}|||20260301100000")
    return draw(ENDINGS).join(segments)


def full_hl7(text: str) -> Any:
    try:
        return decode_hl7("labs", text, tz=TZ, mapping=DEFAULT_MAPPING)
    except (DecodeError, AlertsError, ValueError) as exc:
        return type(exc).__name__


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=oru_messages())
def test_the_hl7_fast_path_answers_only_what_the_full_decode_gives(text: str) -> None:
    fast = ignored_oru("labs", text, DEFAULT_MAPPING)
    if fast is not None:
        assert fast == full_hl7(text), text


def test_unwatched_results_of_the_whole_feed_take_the_hl7_fast_path_and_watched_ones_do_not() -> None:
    """Not a vacuous property: the simulator's HL7 v2 lab traffic (its escaped locations included)."""
    records = [
        r for r in whole_lab_feed(20_000, patients=200) if r.value.startswith(b"MSH") and r.kind == "labs"
    ]
    texts = [r.value.decode() for r in records]
    assert len(texts) > 1000
    assert all(ignored_oru("labs", text, DEFAULT_MAPPING) is not None for text in texts)
    # The same messages with a potassium result first: the full decode uses it.
    first_result = re.compile(r"OBX\|1\|NM\|[^|]*\|\|[^|]*\|[^|]*")
    potassium = [first_result.sub("OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L", t) for t in texts[:50]]
    assert all(ignored_oru("labs", text, DEFAULT_MAPPING) is None for text in potassium)
    assert all(full_hl7(text).events for text in potassium)
