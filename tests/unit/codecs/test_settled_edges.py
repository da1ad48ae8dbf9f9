"""The settled edges of CLINICAL_RULES.md that decoding decides (issue 14 bullets 5, 6 and 7)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from alerts.codes import DEFAULT_MAPPING
from alerts.errors import DeadLetterReason, IgnoreReason
from alerts.models import Analyte, DrugClass, LabResults, MedicationOrder, ResultStatus
from streams.codecs import Decoded
from streams.errors import DecodeError
from streams.worker.envelope import Origin
from streams.worker.ingest import ingest_message
from tests.model.kmg_model import SYSTEMS

from .conftest import BERLIN

Decode = Callable[..., Decoded]
Factory = Callable[..., dict[str, Any]]

# Every spelling CLINICAL_RULES.md lists, as the model of tests/model writes them down from the spec.
LOINC_SPELLINGS = SYSTEMS["loinc"]
RXNORM_SPELLINGS = [*SYSTEMS["rxnorm"], "https://www.nlm.nih.gov/research/umls/rxnorm/"]
ATC_SPELLINGS = SYSTEMS["atc"]


def _ingest(raw: dict[str, Any] | str, kind: str = "labs") -> Any:
    data = raw.encode() if isinstance(raw, str) else orjson.dumps(raw)
    return ingest_message(
        kind,  # type: ignore[arg-type]
        data,
        Origin(topic="labs.results", partition=0, offset=1),
        key=None,
        tz=BERLIN,
        mapping=DEFAULT_MAPPING,
        now=datetime(2026, 3, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize("system", LOINC_SPELLINGS)
def test_bullet5_potassium_is_read_under_every_spelling_of_loinc(
    decode_msg: Decode, lab_json: Factory, observation: Factory, oru: Callable[..., str], system: str
) -> None:
    native = decode_msg("labs", lab_json(system=system))
    fhir = decode_msg(
        "labs",
        observation(
            code={"coding": [{"system": system, "code": "2823-3"}]},
            valueQuantity={"value": 3.1, "unit": "mmol/L"},
        ),
    )
    hl7 = decode_msg("labs", oru((f"2823-3^Potassium^{system}", "3.1", "mmol/L", "F")))

    for decoded in (native, fhir, hl7):
        (event,) = decoded.events
        assert isinstance(event, LabResults) and event.results[0].analyte is Analyte.POTASSIUM, system


@pytest.mark.parametrize(
    ("system", "code"), [(s, "4603") for s in RXNORM_SPELLINGS] + [(s, "C03CA01") for s in ATC_SPELLINGS]
)
def test_bullet5_furosemide_is_read_under_every_spelling_of_rxnorm_and_atc(
    decode_msg: Decode, order_json: Factory, system: str, code: str
) -> None:
    decoded = decode_msg("orders", order_json(medication={"code": code, "system": system}))

    (event,) = decoded.events
    assert isinstance(event, MedicationOrder)
    assert [(i.name, i.drug_class) for i in event.ingredients] == [("furosemide", DrugClass.LOOP)]


def test_bullet5_a_code_lives_in_its_system(decode_msg: Decode, order_json: Factory) -> None:
    # RxNorm 4603 under SNOMED is not furosemide; with no system every known mapping is tried.
    snomed = decode_msg("orders", order_json(medication={"code": "4603", "system": "http://snomed.info/sct"}))
    no_system = decode_msg("orders", order_json(medication={"code": "4603"}))

    assert snomed.events == () and snomed.ignored == 1
    assert len(no_system.events) == 1


@pytest.mark.parametrize("system", ["http://loinc.org/fhir", "urn:oid:2.16.840.1.113883.6.999", "LOINC-2.7"])
def test_bullet5_a_potassium_code_under_an_unknown_system_is_ignored_under_its_own_reason(
    lab_json: Factory, system: str
) -> None:
    outcome = _ingest(lab_json(system=system))

    assert outcome.disposition == "ignored"
    assert outcome.ignore_reason is IgnoreReason.UNKNOWN_CODE_SYSTEM


def test_bullet5_other_tests_are_ignored_as_unwatched(lab_json: Factory) -> None:
    sodium = _ingest(lab_json(code="2951-2"))
    # A K code under another system we know (RxNorm) is just another code there.
    k_code_as_rxnorm = _ingest(lab_json(system="RXNORM"))

    assert (sodium.disposition, sodium.ignore_reason) == ("ignored", IgnoreReason.UNWATCHED)
    assert (k_code_as_rxnorm.disposition, k_code_as_rxnorm.ignore_reason) == (
        "ignored",
        IgnoreReason.UNWATCHED,
    )


def test_bullet5_an_hl7_potassium_under_an_unknown_system_is_ignored_under_its_own_reason(
    oru: Callable[..., str],
) -> None:
    outcome = _ingest(oru(("2823-3^Potassium^LOINCX", "3.1", "mmol/L", "F")))

    assert (outcome.disposition, outcome.ignore_reason) == ("ignored", IgnoreReason.UNKNOWN_CODE_SYSTEM)


def test_bullet5_a_fhir_magnesium_under_an_unknown_system_is_ignored_under_its_own_reason(
    observation: Factory,
) -> None:
    outcome = _ingest(observation(code={"coding": [{"system": "http://lonic.org", "code": "19123-9"}]}))

    assert (outcome.disposition, outcome.ignore_reason) == ("ignored", IgnoreReason.UNKNOWN_CODE_SYSTEM)


def test_bullet6_optional_fields_sent_as_null_mean_absent(decode_msg: Decode) -> None:
    lab = {
        "result_id": "R1",
        "patient_id": "MRN0001",
        "encounter_id": None,
        "code": "2823-3",
        "system": None,
        "value": 3.1,
        "unit": "mmol/L",
        "status": None,
        "collected_at": "2026-03-01T10:00:00",
        "resulted_at": None,
        "location": None,
    }
    order = {
        "order_id": "O1",
        "patient_id": "MRN0001",
        "encounter_id": None,
        "medication": {"code": None, "system": None, "display": "furosemide 40 mg"},
        "status": "active",
        "start": "2026-03-01T08:00:00",
        "end": None,
        "recorded_at": "2026-03-01T08:00:00",
    }
    adt = {
        "patient_id": "MRN0001",
        "encounter_id": None,
        "event": "transfer",
        "location": None,
        "occurred_at": "2026-03-01T08:00:00",
    }
    ack = {
        "alert_id": "kmg-1",
        "patient_id": "MRN0001",
        "by": "nurse1",
        "at": "2026-03-01T08:00:00",
        "note": None,
    }

    (labs,) = decode_msg("labs", lab).events
    assert isinstance(labs, LabResults)
    assert labs.results[0].status is ResultStatus.FINAL and labs.results[0].value == 3.1
    for kind, msg in (("orders", order), ("adt", adt), ("acks", ack)):
        assert len(decode_msg(kind, msg).events) == 1, kind


@pytest.mark.parametrize("missing", ["by", "at"])
@pytest.mark.parametrize("how", ["absent", "null", "blank"])
def test_bullet7_an_ack_without_at_or_by_is_a_schema_error(
    decode_msg: Decode, missing: str, how: str
) -> None:
    ack: dict[str, Any] = {
        "alert_id": "kmg-1",
        "patient_id": "MRN0001",
        "by": "nurse1",
        "at": "2026-03-01T08:00:00",
    }
    if how == "absent":
        del ack[missing]
    else:
        ack[missing] = None if how == "null" else "  "

    with pytest.raises(DecodeError) as err:
        decode_msg("acks", ack)

    assert err.value.reason is DeadLetterReason.SCHEMA_ERROR
    assert missing in err.value.detail


@pytest.mark.parametrize(
    "value",
    ["3.1e0", "3E0", "NaN", "nan", "Infinity", "-Infinity", "inf", "0x3", "3,1", "1_000", "3.1.1", "", " "],
)
def test_bullet7_only_plain_decimal_strings_are_numbers(lab_json: Factory, value: str) -> None:
    outcome = _ingest(lab_json(value=value))

    assert [reason for reason, _ in outcome.deadletters] == [DeadLetterReason.NON_NUMERIC_VALUE]


@pytest.mark.parametrize(
    ("analyte_code", "value", "unit", "expected"),
    [
        ("2823-3", "3.4949999999999999", "mmol/L", 3.49),  # the string as written, not the nearest double
        ("2601-3", 0.695, "mmol/L", 0.70),  # a JSON number as its shortest decimal: 0.695 -> 0.70
        ("2823-3", "3", "mEq / L", 3.0),
        ("19123-9", "1.7", " MG/dl ", 0.70),
    ],
)
def test_bullet7_values_convert_on_decimals_and_units_ignore_case_and_spaces(
    decode_msg: Decode, lab_json: Factory, analyte_code: str, value: object, unit: str, expected: float
) -> None:
    (labs,) = decode_msg("labs", lab_json(code=analyte_code, value=value, unit=unit)).events

    assert isinstance(labs, LabResults) and labs.results[0].value == expected


@pytest.mark.parametrize("value", ["1E+999999999", "-1E+999999999", "1E-999999999", "9" * 60])
def test_bullet7_a_fhir_quantity_beyond_any_decimal_is_a_dead_letter_not_a_crash(
    observation: Factory, value: str
) -> None:
    outcome = _ingest(observation(valueQuantity={"value": value, "unit": "mg/dL"}))

    reasons = [reason for reason, _ in outcome.deadletters]
    assert reasons in ([DeadLetterReason.NON_NUMERIC_VALUE], [DeadLetterReason.IMPLAUSIBLE_VALUE])
    if "E" in value:
        assert reasons == [DeadLetterReason.NON_NUMERIC_VALUE]


@pytest.mark.parametrize("stamp", ["2026-03-01", "20260301", "2026-03-01T", "2026-060"])
def test_bullet7_a_timestamp_needs_a_time_of_day(decode_msg: Decode, lab_json: Factory, stamp: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode_msg("labs", lab_json(collected_at=stamp))

    assert err.value.reason is DeadLetterReason.SCHEMA_ERROR
