"""HL7 v2 ER7 inputs: ORU^R01 results, RDE^O11 orders, ADT^A01/A02/A03, escapes, Z-segments, errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from alerts.codes import build_mapping
from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import (
    AdtEvent,
    AdtKind,
    Analyte,
    DrugClass,
    LabResult,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    ResultStatus,
)
from streams.codecs import Decoded
from streams.errors import DecodeError

from .conftest import BERLIN

Decode = Callable[..., Decoded]
Build = Callable[..., str]

K_OK = ("2823-3^Potassium SerPl-sCnc^LN", "3.1", "mmol/L^^UCUM", "F")
MG_OK = ("19123-9^Magnesium SerPl-mCnc^LN", "1.5", "mg/dL", "F")
NA = ("2951-2^Sodium SerPl-sCnc^LN", "139", "mmol/L", "F")


def results(decoded: Decoded) -> tuple[LabResult, ...]:
    (event,) = decoded.events
    assert isinstance(event, LabResults)
    return event.results


def test_one_oru_with_several_obx_is_one_event(decode_msg: Decode, oru: Build) -> None:
    decoded = decode_msg("labs", oru(K_OK, NA, MG_OK))
    assert decoded.format == "hl7v2" and decoded.ignored == 1 and decoded.rejected == ()
    k, mg = results(decoded)
    assert (k.analyte, k.value, k.result_id) == (Analyte.POTASSIUM, 3.1, "FIL200-2823-3")
    assert (mg.analyte, mg.value, mg.sent_value, mg.sent_unit) == (Analyte.MAGNESIUM, 0.62, 1.5, "mg/dL")
    assert k.patient_id == "MRN0001"  # PID-3, first repetition
    assert k.encounter_id == "E42"
    assert k.location == Location(unit="4W", room="12", bed="A")
    assert k.collected_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # OBR-7, naive, in Berlin
    assert k.resulted_at == datetime(2026, 3, 1, 9, 40, tzinfo=UTC)  # OBR-22
    assert LabResults.model_validate(decoded.events[0].model_dump()) == decoded.events[0]


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_segment_separators(decode_msg: Decode, oru: Build, sep: str) -> None:
    assert len(results(decode_msg("labs", oru(K_OK, MG_OK, sep=sep)))) == 2


def test_obx14_wins_over_obr7_and_offsets_are_kept(decode_msg: Decode, oru: Build) -> None:
    (k,) = results(decode_msg("labs", oru((*K_OK, "20260301093000-0500"))))
    assert k.collected_at == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert k.collected_at.utcoffset() == timedelta(hours=-5)


def test_placer_number_when_there_is_no_filler(decode_msg: Decode, oru: Build) -> None:
    (k,) = results(decode_msg("labs", oru(K_OK, obr3="")))
    assert k.result_id == "PLC100-2823-3"


@pytest.mark.parametrize(
    ("flag", "status"),
    [
        ("F", ResultStatus.FINAL),
        ("P", ResultStatus.PRELIMINARY),
        ("C", ResultStatus.CORRECTED),
        ("X", ResultStatus.CANCELLED),
        ("D", ResultStatus.ENTERED_IN_ERROR),
        ("W", ResultStatus.ENTERED_IN_ERROR),
    ],
)
def test_result_status(decode_msg: Decode, oru: Build, flag: str, status: ResultStatus) -> None:
    (k,) = results(decode_msg("labs", oru((K_OK[0], K_OK[1], K_OK[2], flag))))
    assert k.status is status


def test_a_cancelled_obx_without_a_value(decode_msg: Decode, oru: Build) -> None:
    (k,) = results(decode_msg("labs", oru((K_OK[0], "", "", "X"))))
    assert (k.status, k.value) == (ResultStatus.CANCELLED, None)


def test_a_correction_keeps_the_result_id(decode_msg: Decode, oru: Build) -> None:
    (first,) = results(decode_msg("labs", oru(K_OK)))
    (corrected,) = results(decode_msg("labs", oru((K_OK[0], "3.4", "mmol/L", "C"))))
    assert (corrected.result_id, corrected.status, corrected.value) == (
        first.result_id,
        ResultStatus.CORRECTED,
        3.4,
    )


def test_a_pending_result_is_ignored(decode_msg: Decode, oru: Build) -> None:
    decoded = decode_msg("labs", oru((K_OK[0], "", "", "I")))
    assert (decoded.events, decoded.ignored, decoded.rejected) == ((), 1, ())


def test_escapes_are_decoded_after_splitting(decode_msg: Decode, oru: Build) -> None:
    pid3 = r"MRN\F\01\S\A\T\B\R\C\E\^^^HOSP^MR"
    (k,) = results(decode_msg("labs", oru(K_OK, pid3=pid3, obr3=r"F\T\200", pv1_3=r"4W\S\N^12^A")))
    assert k.patient_id == "MRN|01^A&B~C\\"
    assert k.result_id == "F&200-2823-3"
    assert k.location == Location(unit="4W^N", room="12", bed="A")


def test_a_hex_escape(decode_msg: Decode, oru: Build) -> None:
    (k,) = results(decode_msg("labs", oru(K_OK, pid3=r"M\X41\RN")))
    assert k.patient_id == "MARN"


def test_repetitions_in_pid3_take_the_first(decode_msg: Decode, oru: Build) -> None:
    (k,) = results(decode_msg("labs", oru(K_OK, pid3="A77^^^HOSP^MR~B88^^^OTHER^PI~C99")))
    assert k.patient_id == "A77"


def test_z_segments_and_notes_are_ignored(decode_msg: Decode, oru: Build) -> None:
    decoded = decode_msg("labs", oru(K_OK, extra=("NTE|1||hemolysis index low", "ZLW|1|x^y|z", "ZZZ")))
    assert len(results(decoded)) == 1 and decoded.ignored == 0


def test_a_structured_numeric_value(decode_msg: Decode, oru: Build) -> None:
    (k,) = results(decode_msg("labs", oru((K_OK[0], "=^3.3", "mmol/L", "F", "", "SN"))))
    assert k.value == 3.3
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", oru((K_OK[0], "<^1.0", "mmol/L", "F", "", "SN")))
    assert err.value.reason is DeadLetterReason.NON_NUMERIC_VALUE


def test_an_alternate_code_in_obx3(decode_msg: Decode, oru: Build) -> None:
    (mg,) = results(decode_msg("labs", oru(("MG^Magnesium^L^2601-3^Magnesium^LN", "0.61", "mmol/L", "F"))))
    assert (mg.analyte, mg.code, mg.result_id) == (Analyte.MAGNESIUM, "2601-3", "FIL200-MG")


def test_a_local_code_from_the_mapping(decode_msg: Decode, oru: Build) -> None:
    mapping = build_mapping({"analytes": {"potassium": [{"system": "L", "code": "KPL"}]}})
    (k,) = results(decode_msg("labs", oru(("KPL^Potassium^L", "3.0", "mEq/L", "F")), mapping=mapping))
    assert (k.analyte, k.value) == (Analyte.POTASSIUM, 3.0)


def test_a_bad_result_next_to_a_good_one_is_rejected_alone(decode_msg: Decode, oru: Build) -> None:
    decoded = decode_msg("labs", oru(K_OK, (MG_OK[0], "hemolyzed", "mg/dL", "F", "", "ST"), NA))
    (k,) = results(decoded)
    assert k.analyte is Analyte.POTASSIUM
    (bad,) = decoded.rejected
    assert isinstance(bad, InvalidInputError)
    assert bad.reason is DeadLetterReason.NON_NUMERIC_VALUE
    assert decoded.ignored == 1


def test_when_every_watched_result_is_bad_the_message_is_rejected(decode_msg: Decode, oru: Build) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", oru((K_OK[0], "3.1", "mg/dL", "F"), (MG_OK[0], "44", "mg/dL", "F"), NA))
    assert err.value.reason is DeadLetterReason.UNKNOWN_UNIT
    assert "1 more" in err.value.detail


def test_an_oru_with_nothing_watched(decode_msg: Decode, oru: Build) -> None:
    decoded = decode_msg("labs", oru(NA, NA))
    assert (decoded.events, decoded.ignored, decoded.rejected) == ((), 2, ())


@pytest.mark.parametrize(
    ("kwargs", "reason", "names"),
    [
        ({"pid3": ""}, DeadLetterReason.MISSING_PATIENT, "PID-3"),
        ({"obr2": "", "obr3": ""}, DeadLetterReason.SCHEMA_ERROR, "OBR-3"),
        ({"obr7": ""}, DeadLetterReason.SCHEMA_ERROR, "OBX-14"),
        ({"obr7": "2026030"}, DeadLetterReason.SCHEMA_ERROR, "OBR-7"),
        ({"obr7": "20260230"}, DeadLetterReason.SCHEMA_ERROR, "OBR-7"),  # a date alone is not a time
        ({"obr7": "202602301000"}, DeadLetterReason.SCHEMA_ERROR, "OBR-7"),  # 30 February
    ],
)
def test_oru_errors(
    decode_msg: Decode, oru: Build, kwargs: dict[str, str], reason: DeadLetterReason, names: str
) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", oru(K_OK, **kwargs))
    assert err.value.reason is reason
    assert names in err.value.detail


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("MSH", DeadLetterReason.HL7_PARSE_ERROR),
        ("MSH|^~\\&|A\rPI D|1", DeadLetterReason.HL7_PARSE_ERROR),
        ("MSHA^~\\&|A", DeadLetterReason.HL7_PARSE_ERROR),
        ("MSH|^^\\&|A", DeadLetterReason.HL7_PARSE_ERROR),
        (
            "MSH|^~\\&|LAB|H|LW|H|20260301||SIU^S12|1|P|2.5\rPID|1||M1",
            DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE,
        ),
        (
            "MSH|^~\\&|LAB|H|LW|H|20260301||ORU^R30|1|P|2.5\rPID|1||M1",
            DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE,
        ),
        ("BHS|^~\\&|LAB\rMSH|^~\\&|LAB", DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE),
    ],
)
def test_parse_errors_and_unsupported_types(decode_msg: Decode, raw: str, reason: DeadLetterReason) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", raw)
    assert err.value.reason is reason


def test_an_oru_on_the_orders_topic_is_unsupported(decode_msg: Decode, oru: Build) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("orders", oru(K_OK))
    assert err.value.reason is DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE
    with pytest.raises(DecodeError) as err:
        decode_msg("acks", oru(K_OK))
    assert err.value.reason is DeadLetterReason.UNSUPPORTED_MESSAGE_TYPE


def test_latin1_text_is_accepted(decode_msg: Decode, oru: Build) -> None:
    raw = oru(K_OK, pid3="M\u00dcLLER1").encode("latin-1")
    (k,) = results(decode_msg("labs", raw))
    assert k.patient_id == "M\u00dcLLER1"


# --- RDE^O11 ---------------------------------------------------------------------------------------


def only_order(decoded: Decoded) -> MedicationOrder:
    (order,) = decoded.events
    assert isinstance(order, MedicationOrder)
    return order


def test_a_new_order(decode_msg: Decode, rde: Build) -> None:
    order = only_order(decode_msg("orders", rde(tq1_8="202603050800")))
    assert (order.order_id, order.status, order.code, order.display) == (
        "ORD77",
        OrderStatus.ACTIVE,
        "4603",
        "Furosemide 40 mg IV",
    )
    assert order.system == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert [(i.name, i.drug_class) for i in order.ingredients] == [("furosemide", DrugClass.LOOP)]
    assert order.start == datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert order.end == datetime(2026, 3, 5, 7, 0, tzinfo=UTC)
    assert order.recorded_at == datetime(2026, 3, 1, 6, 55, tzinfo=UTC)  # ORC-9
    assert (order.patient_id, order.encounter_id) == ("MRN0001", "E42")


@pytest.mark.parametrize(
    ("control", "status"),
    [
        ("NW", OrderStatus.ACTIVE),
        ("XO", OrderStatus.ACTIVE),
        ("DC", OrderStatus.STOPPED),
        ("CA", OrderStatus.CANCELLED),
        ("HD", OrderStatus.ON_HOLD),
    ],
)
def test_order_control(decode_msg: Decode, rde: Build, control: str, status: OrderStatus) -> None:
    assert only_order(decode_msg("orders", rde(control=control))).status is status


def test_order_fallbacks(decode_msg: Decode, rde: Build) -> None:
    # Filler number when no placer; MSH-7 when no ORC-9; the event time when there is no TQ1.
    order = only_order(decode_msg("orders", rde(placer="", filler="PH9", orc9="", with_tq1=False)))
    assert order.order_id == "PH9"
    assert order.recorded_at == order.start == datetime(2026, 3, 1, 6, 56, tzinfo=UTC)


def test_a_bare_end_date(decode_msg: Decode, rde: Build) -> None:
    order = only_order(decode_msg("orders", rde(tq1_8="20260305")))
    assert order.end == datetime(2026, 3, 5, 0, 0, tzinfo=BERLIN)


def test_an_order_by_name_only_and_a_combination(decode_msg: Decode, rde: Build) -> None:
    order = only_order(decode_msg("orders", rde(give="^Maxzide 37.5-25 mg tab")))
    assert {i.drug_class for i in order.ingredients} == {DrugClass.POTASSIUM_SPARING, DrugClass.THIAZIDE}
    assert order.code is None


def test_an_order_of_another_drug_or_control_is_ignored(decode_msg: Decode, rde: Build) -> None:
    decoded = decode_msg("orders", rde(give="^Losartan Potassium 50 mg"))
    assert (decoded.events, decoded.ignored) == ((), 1)
    decoded = decode_msg("orders", rde(control="SC"))
    assert (decoded.events, decoded.ignored) == ((), 1)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"placer": "", "filler": ""}, "ORC-2"),
        ({"tq1_7": "tomorrow"}, "TQ1-7"),
        ({"orc9": "2026"}, "ORC-9"),
    ],
)
def test_order_errors(decode_msg: Decode, rde: Build, kwargs: dict[str, str], names: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("orders", rde(**kwargs))
    assert err.value.reason is DeadLetterReason.SCHEMA_ERROR
    assert names in err.value.detail


# --- ADT -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "kind"), [("A01", AdtKind.ADMIT), ("A02", AdtKind.TRANSFER), ("A03", AdtKind.DISCHARGE)]
)
def test_adt(decode_msg: Decode, adt: Build, trigger: str, kind: AdtKind) -> None:
    (event,) = decode_msg("adt", adt(trigger)).events
    assert isinstance(event, AdtEvent)
    assert (event.event, event.patient_id, event.encounter_id) == (kind, "MRN0001", "E42")
    assert event.location == Location(unit="4W", room="12", bed="A")
    assert event.occurred_at == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def test_adt_time_falls_back_to_msh7(decode_msg: Decode, adt: Build) -> None:
    (event,) = decode_msg("adt", adt("A03", evn2="")).events
    assert isinstance(event, AdtEvent)
    assert event.occurred_at == datetime(2026, 3, 1, 6, 1, tzinfo=UTC)


def test_other_adt_triggers_are_ignored(decode_msg: Decode, adt: Build) -> None:
    decoded = decode_msg("adt", adt("A08"))
    assert (decoded.events, decoded.ignored, decoded.rejected) == ((), 1, ())


def test_each_obx_belongs_to_the_obr_before_it(decode_msg: Decode, oru: Build) -> None:
    second_order = (
        "OBR|2|PLC101|FIL201|83735^Magnesium^CPT|||202603011200",
        "OBX|1|NM|19123-9^Magnesium^LN||1.4|mg/dL|||||F",
    )
    k, mg = results(decode_msg("labs", oru(K_OK, extra=second_order)))
    assert (k.result_id, k.collected_at.hour) == ("FIL200-2823-3", 10)
    assert (mg.result_id, mg.collected_at.hour, mg.value) == ("FIL201-19123-9", 12, 0.58)
