"""Which test codes are potassium or magnesium: LOINC, MIMIC-IV itemids, system aliases, local codes."""

from __future__ import annotations

import pytest

from alerts.codes import DEFAULT_MAPPING, LOINC, build_mapping
from alerts.models import Analyte

K, MG = Analyte.POTASSIUM, Analyte.MAGNESIUM


@pytest.mark.parametrize(
    ("code", "system", "expected"),
    [
        ("2823-3", LOINC, K),
        ("6298-4", LOINC, K),
        ("39789-3", "LN", K),
        ("77142-8", "http://loinc.org", K),
        ("19123-9", LOINC, MG),
        ("2601-3", "LOINC", MG),
        ("2593-2", LOINC, MG),
        ("50971", None, K),
        ("50822", None, K),
        ("50960", None, MG),
        ("50960", "http://mimic.mit.edu/fhir/mimic/CodeSystem/mimic-d-labitems", MG),
        ("2823-3", None, K),  # no system: every known mapping is tried
        (" 2823-3 ", LOINC, K),
        ("2951-2", LOINC, None),  # sodium: not watched, not an error
        ("50983", None, None),  # MIMIC sodium
        ("2823-3", "urn:some-local-lab", None),  # a LOINC-looking code in another system is not LOINC
        ("50960", LOINC, None),  # a MIMIC itemid is not a LOINC code
    ],
)
def test_builtin_codes(code: str, system: str | None, expected: Analyte | None) -> None:
    assert DEFAULT_MAPPING.analyte(code, system) is expected


def test_local_codes_with_and_without_a_system() -> None:
    mapping = build_mapping(
        {"analytes": {"potassium": [{"system": "urn:local", "code": "K+"}], "magnesium": [{"code": "MGX"}]}}
    )
    assert mapping.analyte("K+", "urn:local") is K
    assert mapping.analyte("K+") is K
    assert mapping.analyte("K+", "urn:other") is None
    assert mapping.analyte("MGX", "urn:anything") is MG
    assert mapping.analyte("2823-3", LOINC) is K  # built-ins stay
    assert DEFAULT_MAPPING.analyte("K+", "urn:local") is None  # the default mapping is not changed
