"""Loading the local code mapping file (YAML), including the shipped example and its errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from alerts.codes import DEFAULT_MAPPING, CodeMappingError, load_code_mapping
from alerts.models import Analyte, DrugClass

EXAMPLE = Path(__file__).resolve().parents[3] / "alerts" / "codes.example.yaml"


@pytest.fixture
def mapping_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "mapping.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_no_file_gives_the_builtins() -> None:
    assert load_code_mapping(None) is DEFAULT_MAPPING


def test_the_shipped_example_loads_and_maps() -> None:
    mapping = load_code_mapping(EXAMPLE)
    assert mapping.analyte("K+", "urn:local") is Analyte.POTASSIUM
    assert mapping.analyte("MG", "urn:local") is Analyte.MAGNESIUM
    assert [i.drug_class for i in mapping.classify(display="Furomide 20 mg")] == [DrugClass.LOOP]
    assert mapping.classify(display="Mag Plus Protein") == ()


def test_an_empty_file_gives_the_builtins(mapping_file: Callable[[str], Path]) -> None:
    assert load_code_mapping(mapping_file("")).analyte("2823-3") is Analyte.POTASSIUM


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("analytes: {sodium: [{code: NA}]}", "analytes.sodium"),
        ("analytes: {potassium: [{system: x}]}", "analytes.potassium.0.code: Field required"),
        ("analytes: {potassium: K}", "analytes.potassium"),
        ("medications: {lasixx: diuretic}", "medications.lasixx.0: Input should be 'loop'"),
        ("medications: {'--': loop}", "has no letters or digits"),
        ("medications: [a, b]", "medications: Input should be a valid dictionary"),
        ("drugs: {}", "drugs: Extra inputs are not permitted"),
        ("- just a list", "(top level): must be a mapping"),
        ("analytes: {potassium: [", "not valid YAML"),
    ],
)
def test_errors_name_the_bad_entry(mapping_file: Callable[[str], Path], text: str, names: str) -> None:
    path = mapping_file(text)
    with pytest.raises(CodeMappingError, match=None) as err:
        load_code_mapping(path)
    # The same shape as the rules and routing files: "<what> <path>: <key.path>: <message>".
    assert str(err.value).startswith(f"code mapping file {path}: ")
    assert names in str(err.value)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CodeMappingError, match="cannot read"):
        load_code_mapping(tmp_path / "nope.yaml")
