"""Medication classification by RxNorm, ATC and name (CLINICAL_RULES.md, medication classes)."""

from __future__ import annotations

import pytest

import alerts.codes
from alerts.codes import ATC, DEFAULT_MAPPING, RXNORM, build_mapping
from alerts.models import DrugClass

LOOP, THZ, CAI = DrugClass.LOOP, DrugClass.THIAZIDE, DrugClass.CARBONIC_ANHYDRASE_INHIBITOR
SPARING = DrugClass.POTASSIUM_SPARING
KREP, MGREP = DrugClass.POTASSIUM_REPLACEMENT, DrugClass.MAGNESIUM_REPLACEMENT


def classes(**kw: str | None) -> set[DrugClass]:
    return {i.drug_class for i in DEFAULT_MAPPING.classify(**kw)}


def names(**kw: str | None) -> list[str]:
    return [i.name for i in DEFAULT_MAPPING.classify(**kw)]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("4603", "furosemide"),
        ("1808", "bumetanide"),
        ("38413", "torsemide"),
        ("4109", "ethacrynic acid"),
        ("5487", "hydrochlorothiazide"),
        ("2396", "chlorothiazide"),
        ("2409", "chlorthalidone"),
        ("5764", "indapamide"),
        ("6916", "metolazone"),
        ("167", "acetazolamide"),
        ("9997", "spironolactone"),
        ("298869", "eplerenone"),
        ("644", "amiloride"),
        ("10763", "triamterene"),
        ("8591", "potassium chloride"),
        ("6585", "magnesium sulfate"),
    ],
)
def test_rxnorm_ingredient_codes(code: str, expected: str) -> None:
    assert names(code=code, system=RXNORM) == [expected]
    assert names(code=code, system="RXNORM") == [expected]  # HL7 v2 coding-system id
    assert names(code=code) == [expected]  # no system: RxNorm and ATC are tried


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("C03CA01", {LOOP}),
        ("C03AA03", {THZ}),
        ("C03BA04", {THZ}),
        ("S01EC01", {CAI}),
        ("C03DA01", {SPARING}),
        ("C03EA21", {THZ, SPARING}),
        ("C03EB01", {LOOP, SPARING}),
        ("A12BA01", {KREP}),
        ("B05XA01", {KREP}),
        ("A12CC02", {MGREP}),
        ("A12CC10", {MGREP}),
    ],
)
def test_atc_codes(code: str, expected: set[DrugClass]) -> None:
    assert classes(code=code, system=ATC) == expected
    assert classes(code=code, system="WC") == expected


def test_an_unknown_product_code_falls_back_to_the_name() -> None:
    # 310429 is a product-level RxNorm code (furosemide 20 MG Oral Tablet), not an ingredient code.
    assert names(code="310429", system=RXNORM, display="furosemide 20 MG Oral Tablet") == ["furosemide"]
    assert names(code="310429", system=RXNORM) == []


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Lasix 40 mg IV push", {LOOP}),
        ("FUROSEMIDE", {LOOP}),
        ("frusemide 40mg", {LOOP}),
        ("Bumex", {LOOP}),
        ("Demadex 20 mg", {LOOP}),
        ("Edecrin", {LOOP}),
        ("ethacrynic acid 25 mg", {LOOP}),
        ("Microzide 12.5 mg", {THZ}),
        ("HCTZ 25 mg", {THZ}),
        ("Zaroxolyn", {THZ}),
        ("Diamox Sequels", {CAI}),
        ("Aldactone", {SPARING}),
        ("Inspra", {SPARING}),
        ("Midamor", {SPARING}),
        ("Dyrenium", {SPARING}),
        ("Maxzide-25", {SPARING, THZ}),
        ("Dyazide", {SPARING, THZ}),
        ("triamterene-hydrochlorothiazide 37.5-25 mg", {SPARING, THZ}),
        ("lisinopril / HCTZ 20-12.5", {THZ}),
        ("losartan potassium-hydrochlorothiazide", {THZ}),
        ("KCl 20 mEq PO", {KREP}),
        ("K-Dur 20", {KREP}),
        ("Klor-Con M20", {KREP}),
        ("Micro-K", {KREP}),
        ("K-Phos Neutral", {KREP}),
        ("Sodium Chloride 0.9% with KCl 20 mEq/L", {KREP}),
        ("Potassium Chl 20 mEq / 1000 mL D5 1/2 NS", {KREP}),
        ("Mag-Ox 400", {MGREP}),
        ("magnesium sulfate 2 g IV", {MGREP}),
        ("MgSO4 2g/50mL", {MGREP}),
        ("Magnesium Oxide", {MGREP}),
        ("magnesium chloride (Slow-Mag)", {MGREP}),
    ],
)
def test_names_brands_and_abbreviations(display: str, expected: set[DrugClass]) -> None:
    assert classes(display=display) == expected


@pytest.mark.parametrize(
    "display",
    [
        "Losartan Potassium",
        "penicillin V potassium",
        "amoxicillin-clavulanate potassium",
        "diclofenac potassium",
        "Aluminum-Magnesium Hydrox.-Simethicone",
        "Magnesium Citrate",
        "Milk of Magnesia",
        "magnesium hydroxide",
        "Morphine Sulfate",
        "Vitamin K",
        "Sodium Polystyrene Sulfonate",
        "Golytely",
        "Lactated Ringers",
        "Furosemidex",  # not the whole word
        "",
    ],
)
def test_salts_of_other_drugs_antacids_and_laxatives_are_not_watched(display: str) -> None:
    assert classes(display=display) == set()


def test_longest_phrase_wins_so_hydrochlorothiazide_is_not_also_chlorothiazide() -> None:
    assert names(display="Hydrochlorothiazide 25 mg") == ["hydrochlorothiazide"]
    assert names(display="Chlorothiazide Sodium") == ["chlorothiazide"]


def test_a_combination_counts_as_every_ingredient_once() -> None:
    assert names(display="Maxzide (triamterene/HCTZ)") == ["triamterene", "hydrochlorothiazide"]


def test_local_names_extend_and_can_silence_builtins() -> None:
    mapping = build_mapping(
        {"medications": {"Furomide": "loop", "spirozide": ["potassium_sparing", "thiazide"]}}
    )
    assert {i.drug_class for i in mapping.classify(display="furomide 40 mg")} == {LOOP}
    assert {i.drug_class for i in mapping.classify(display="Spirozide")} == {SPARING, THZ}
    assert {i.drug_class for i in mapping.classify(display="Lasix")} == {LOOP}


def test_remembered_answers_are_the_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """classify remembers products (a feed repeats them); a fresh mapping, a second asking and one after the
    memory started over all answer the same."""
    monkeypatch.setattr(alerts.codes, "_CLASSIFIED_MAX", 3)
    mapping = build_mapping()
    products = [
        {"display": "Furosemide 40 mg tab"},
        {"code": "4603", "system": RXNORM},
        {"display": "Potassium chloride ER"},
        {"code": "C03AA03", "system": ATC},
        {"display": "Sodium chloride 0.9%"},
        {"display": "Furosemide 40 mg tab"},
    ]
    first = [mapping.classify(**p) for p in products]
    again = [mapping.classify(**p) for p in reversed(products)][::-1]
    fresh = [build_mapping().classify(**p) for p in products]
    assert first == again == fresh
    assert [bool(a) for a in first] == [True, True, True, True, False, True]
