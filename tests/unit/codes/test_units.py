"""Unit normalisation to mmol/L, rounding and plausibility (CLINICAL_RULES.md, analytes and units)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts.codes import normalise_result
from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import Analyte

K, MG = Analyte.POTASSIUM, Analyte.MAGNESIUM


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        (MG, 1.7, "mg/dL", 0.70),  # 0.69938 unrounded: the lower limit of normal, not low
        (MG, 1.5, "mg/dL", 0.62),  # 0.6171
        (MG, 1.17, "mg/dL", 0.48),  # 0.481338
        (MG, 1.0, "mEq/L", 0.5),
        (MG, 0.65, "mmol/L", 0.65),
        (MG, "0.655", "mmol/L", 0.66),  # exactly half: away from zero, not to even
        (MG, 1.2153, "mg/dL", 0.5),  # 0.49997... -> 0.50
        (K, 3.1, "mmol/L", 3.1),
        (K, 3.1, "mEq/L", 3.1),
        (K, 3.145, "meq/l", 3.15),  # float 3.145 would round to 3.14 in binary arithmetic
        (K, "4", "MMOL/L", 4.0),
        (K, " 3.4 ", " mmol / L ", 3.4),
        (K, Decimal("2.999"), "mmol/L", 3.0),
    ],
)
def test_converts_to_mmol_per_litre_rounded_half_away_from_zero(
    analyte: Analyte, value: object, unit: str, expected: float
) -> None:
    assert normalise_result(analyte, value, unit).value == expected


def test_keeps_the_value_and_unit_as_sent() -> None:
    norm = normalise_result(MG, 1.17, "mg/dL")
    assert (norm.sent_value, norm.sent_unit) == (1.17, "mg/dL")


@pytest.mark.parametrize(
    "value", ["<1.0", "hemolyzed", "", None, True, float("nan"), float("inf"), "3,4", [3.4]]
)
def test_a_value_that_is_not_a_number_is_rejected(value: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        normalise_result(K, value, "mmol/L")
    assert err.value.reason is DeadLetterReason.NON_NUMERIC_VALUE


@pytest.mark.parametrize(
    ("analyte", "unit"), [(K, None), (K, ""), (K, "mg/dL"), (MG, "mg/L"), (MG, "umol/L")]
)
def test_a_missing_or_unknown_unit_is_rejected(analyte: Analyte, unit: str | None) -> None:
    with pytest.raises(InvalidInputError) as err:
        normalise_result(analyte, 1.0, unit)
    assert err.value.reason is DeadLetterReason.UNKNOWN_UNIT


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "plausible"),
    [
        (K, 1.0, "mmol/L", True),
        (K, 10.0, "mmol/L", True),
        (K, 0.99, "mmol/L", False),
        (K, 10.01, "mmol/L", False),
        (K, 42, "mmol/L", False),
        (MG, 0.1, "mmol/L", True),
        (MG, 5.0, "mmol/L", True),
        (MG, 0.09, "mmol/L", False),
        (MG, 12.2, "mg/dL", False),  # 5.019 -> 5.02 mmol/L
        (MG, 12.15, "mg/dL", True),  # 4.9985 -> 5.00 mmol/L
        (MG, 0.2, "mg/dL", False),  # 0.08 mmol/L
        (MG, -1, "mmol/L", False),
    ],
)
def test_plausible_range_is_checked_after_conversion(
    analyte: Analyte, value: float, unit: str, plausible: bool
) -> None:
    if plausible:
        assert normalise_result(analyte, value, unit).value > 0
    else:
        with pytest.raises(InvalidInputError) as err:
            normalise_result(analyte, value, unit)
        assert err.value.reason is DeadLetterReason.IMPLAUSIBLE_VALUE


@pytest.mark.parametrize("value", [1e26, -1e300, "123456789012345678901234567890"])
def test_huge_values_are_implausible_not_a_crash(value: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        normalise_result(MG, value, "mg/dL")
    assert err.value.reason is DeadLetterReason.IMPLAUSIBLE_VALUE
