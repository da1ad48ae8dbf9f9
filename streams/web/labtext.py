"""Lab values as laboratories print them: K to one decimal, Mg in mmol/L to two, always with the unit."""

from __future__ import annotations

__all__ = ["lab_number", "lab_text"]

# Decimals a lab report uses, by analyte and unit; a value sent with more precision keeps it (up to 3).
_DECIMALS = {
    ("potassium", "mmol/l"): 1,
    ("potassium", "meq/l"): 1,
    ("magnesium", "mmol/l"): 2,
    ("magnesium", "meq/l"): 2,
    ("magnesium", "mg/dl"): 1,
}


def _needed(value: float) -> int:
    for decimals in range(4):
        if abs(round(value, decimals) - value) < 1e-9:
            return decimals
    return 3


def lab_number(analyte: str, value: float, unit: str) -> str:
    """The number alone: `lab_number("potassium", 3, "mmol/L") == "3.0"`, Mg 0.6 mmol/L -> "0.60"."""
    decimals = max(_DECIMALS.get((analyte, unit.casefold()), 2), _needed(value))
    return f"{value:.{decimals}f}"


def lab_text(analyte: str, value: float, unit: str) -> str:
    """Number and unit: "3.0 mmol/L"."""
    return f"{lab_number(analyte, value, unit)} {unit}"
