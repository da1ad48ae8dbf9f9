"""Every MIMIC-IV demo `prescriptions.drug` name that mentions a diuretic, K or Mg classifies correctly."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pytest

from alerts.codes import DEFAULT_MAPPING
from alerts.models import DrugClass

PRESCRIPTIONS = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "data"
    / "mimic-iv-demo"
    / "hosp"
    / "prescriptions.csv.gz"
)

# Deliberately broader than the classifier: every diuretic stem and brand, any potassium/magnesium/
# phosphate/electrolyte word, so that an unwatched product that merely looks close is checked too.
MENTIONS = re.compile(
    r"(?i)potass|\bkcl\b|\bk[- ](dur|phos|tab)|klor|micro-?k|magnes|\bmag\b|mag-|mgso|phos|lyte|semide|"
    r"metanide|torsemide|ethacryn|thiazide|chlorthal|indapamide|metolazone|acetazol|methazol|spironol|"
    r"eplerenone|amiloride|triamter|lasix|bumex|demadex|edecrin|zaroxolyn|diamox|aldact|inspra|midamor|"
    r"dyrenium|maxzide|dyazide|hctz|diuret"
)

LOOP, THZ, CAI = DrugClass.LOOP, DrugClass.THIAZIDE, DrugClass.CARBONIC_ANHYDRASE_INHIBITOR
SPARING = DrugClass.POTASSIUM_SPARING
KREP, MGREP = DrugClass.POTASSIUM_REPLACEMENT, DrugClass.MAGNESIUM_REPLACEMENT
NONE: frozenset[DrugClass] = frozenset()

EXPECTED: dict[str, frozenset[DrugClass]] = {
    "AcetaZOLamide": frozenset({CAI}),
    "AcetaZOLamide Sodium": frozenset({CAI}),
    "Aluminum-Magnesium Hydrox.-Simethicone": NONE,  # antacid
    "Bumetanide": frozenset({LOOP}),
    "Caphosol": NONE,  # calcium phosphate mouth rinse
    "Chlorothiazide Sodium": frozenset({THZ}),
    "Chlorthalidone": frozenset({THZ}),
    "Dexamethasone Sod Phosphate": NONE,
    "Fludarabine Phosphate": NONE,
    "Furosemide": frozenset({LOOP}),
    "Furosemide-Heart Failure": frozenset({LOOP}),
    "Golytely": NONE,  # bowel preparation, though it contains KCl
    "Guaifenesin-CODEINE Phosphate": NONE,
    "Hydrochlorothiazide": frozenset({THZ}),
    "Losartan Potassium": NONE,  # a salt of another drug
    "Magnesium Citrate": NONE,  # laxative
    "Magnesium Oxide": frozenset({MGREP}),
    "Magnesium Sulfate": frozenset({MGREP}),
    "Metolazone": frozenset({THZ}),
    "Milk of Magnesia": NONE,  # laxative/antacid
    "Neutra-Phos": frozenset({KREP}),  # potassium + sodium phosphate, counted like K-Phos
    "Phosphorus": NONE,
    "PlasmaLyte": NONE,  # balanced crystalloid, maintenance K only
    "Potassium Chl 20 mEq / 1000 mL D5 1/2 NS": frozenset({KREP}),  # IV fluid with KCl added
    "Potassium Chl 20 mEq / 1000 mL D5LR": frozenset({KREP}),
    "Potassium Chl 20 mEq / 1000 mL D5NS": frozenset({KREP}),
    "Potassium Chl 20 mEq / 1000 mL NS": frozenset({KREP}),
    "Potassium Chl 40 mEq / 1000 mL D5 1/2 NS": frozenset({KREP}),
    "Potassium Chl 40 mEq / 1000 mL D5NS": frozenset({KREP}),
    "Potassium Chl 40 mEq / 1000 mL NS": frozenset({KREP}),
    "Potassium Chloride": frozenset({KREP}),
    "Potassium Chloride (Powder)": frozenset({KREP}),
    "Potassium Chloride Replacement (Critical Care and Oncology) ": frozenset({KREP}),
    "Potassium Chloride Replacement (Oncology)": frozenset({KREP}),
    "Potassium Phosphate": frozenset({KREP}),
    "Sodium Glycerophosphate": NONE,
    "Sodium Phosphate": NONE,
    "Spironolactone": frozenset({SPARING}),
    "Torsemide": frozenset({LOOP}),
}


def _mentioned_names() -> list[str]:
    with gzip.open(PRESCRIPTIONS, "rt", encoding="utf-8", newline="") as fh:
        return sorted({row["drug"] for row in csv.DictReader(fh) if MENTIONS.search(row["drug"])})


if not PRESCRIPTIONS.exists():  # pragma: no cover - the data set is part of the shared workspace
    pytest.fail(f"MIMIC-IV demo prescriptions not found at {PRESCRIPTIONS}", pytrace=False)
NAMES = _mentioned_names()


def test_the_table_covers_exactly_the_names_in_the_data() -> None:
    assert set(NAMES) == set(EXPECTED), "new or vanished names: update EXPECTED after looking at them"


@pytest.mark.parametrize("drug", NAMES)
def test_each_name_classifies_correctly(drug: str) -> None:
    got = frozenset(i.drug_class for i in DEFAULT_MAPPING.classify(display=drug))
    assert got == EXPECTED.get(drug), drug
