"""Analyte codes, unit normalisation to mmol/L and medication classification (CLINICAL_RULES.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, DecimalException
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, field_validator

from alerts.configfile import load_yaml_model, validate_document
from alerts.errors import AlertsError, DeadLetterReason, InvalidInputError
from alerts.models import Analyte, DrugClass, Ingredient

__all__ = [
    "ATC",
    "DEFAULT_MAPPING",
    "LOINC",
    "MIMIC",
    "RXNORM",
    "CodeMapping",
    "CodeMappingError",
    "MappingFile",
    "Normalised",
    "canonical_system",
    "load_code_mapping",
    "normalise_name",
    "normalise_result",
]

LOINC = "http://loinc.org"
MIMIC = "mimic-iv-itemid"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
_CANONICAL = {"loinc": LOINC, "mimic": MIMIC, "rxnorm": RXNORM, "atc": ATC}

_DATA_FILE = Path(__file__).with_name("codes_data.yaml")
_CENT = Decimal("0.01")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class CodeMappingError(AlertsError):
    """The code mapping file is missing, unreadable or invalid; the message names the bad entry."""


@dataclass(frozen=True, slots=True)
class Normalised:
    """A result value in mmol/L (rounded to two decimals) and the value and unit as the lab sent them."""

    value: float
    sent_value: float
    sent_unit: str


def normalise_name(text: str) -> str:
    """Lower-case, and every run of non-alphanumerics becomes one space ("K-Dur 20" -> "k dur 20")."""
    return _NOT_ALNUM.sub(" ", text.lower()).strip()


@cache
def _data() -> dict[str, Any]:
    with _DATA_FILE.open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


def _spelling(system: str) -> str:
    """One key for the spellings of one system: case, surrounding spaces, a trailing slash, http(s)."""
    key = system.strip().lower().rstrip("/")
    return "http://" + key[8:] if key.startswith("https://") else key


@cache
def _system_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for key, names in _data()["systems"].items():
        for name in names:
            aliases[_spelling(name)] = _CANONICAL[key]
    return aliases


# Spellings canonical_system has answered: a feed sends a handful, once per result. Past this many (a
# sender making up systems) it starts over.
_CANONICAL_SEEN_MAX = 1_000
_canonical_seen: dict[str, str] = {}


def canonical_system(system: str | None) -> str | None:
    """The canonical URI of a known code system (LOINC, MIMIC-IV itemid, RxNorm, ATC), else the input.

    Every spelling CLINICAL_RULES.md lists is one system: `http://loinc.org`, with or without a trailing
    slash, over https, `LN`, its OID (and the same variants of RxNorm and ATC).
    """
    if system is None:
        return None
    answer = _canonical_seen.get(system)
    if answer is None:
        answer = _system_aliases().get(_spelling(system), system)
        if len(_canonical_seen) >= _CANONICAL_SEEN_MAX:
            _canonical_seen.clear()
        _canonical_seen[system] = answer
    return answer


@cache
def _units() -> dict[Analyte, dict[str, Decimal]]:
    return {
        Analyte(analyte): {unit: Decimal(factor) for unit, factor in table.items()}
        for analyte, table in _data()["units"].items()
    }


@cache
def _plausible() -> dict[Analyte, tuple[Decimal, Decimal]]:
    return {Analyte(a): (Decimal(lo), Decimal(hi)) for a, (lo, hi) in _data()["plausible"].items()}


def _parse_number(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        # A decimal parsed by a schema (FHIR valueQuantity) obeys the rule of strings: plain notation only,
        # so "1E+999999999" is not a number here rather than an overflow further on.
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return Decimal(text)
    return None


def normalise_result(analyte: Analyte, value: object, unit: str | None) -> Normalised:
    """Convert a K or Mg value to mmol/L, rounded half away from zero, and check it is plausible.

    Raises InvalidInputError with NON_NUMERIC_VALUE, UNKNOWN_UNIT or IMPLAUSIBLE_VALUE.
    """
    if value is None or value == "":
        raise InvalidInputError(DeadLetterReason.NON_NUMERIC_VALUE, f"{analyte.value} result has no value")
    number = _parse_number(value)
    if number is None:
        shown = value if isinstance(value, str | int | float) else type(value).__name__
        raise InvalidInputError(
            DeadLetterReason.NON_NUMERIC_VALUE, f"{analyte.value} value {str(shown)[:40]!r} is not a number"
        )
    unit_text = (unit or "").strip()
    if not unit_text:
        raise InvalidInputError(DeadLetterReason.UNKNOWN_UNIT, f"{analyte.value} result has no unit")
    factor = _units()[analyte].get(unit_text.lower().replace(" ", ""))
    if factor is None:
        raise InvalidInputError(
            DeadLetterReason.UNKNOWN_UNIT, f"unit {unit_text[:40]!r} is not accepted for {analyte.value}"
        )
    low, high = _plausible()[analyte]
    try:
        mmol = (number * factor).quantize(_CENT, rounding=ROUND_HALF_UP)
    except DecimalException:
        # Any signal of the decimal context (too many digits, 1e+26; overflow): far outside any plausible
        # range. Caught as the base class so that no input can make decoding raise.
        mmol = None
    if mmol is None or not low <= mmol <= high:
        raise InvalidInputError(
            DeadLetterReason.IMPLAUSIBLE_VALUE,
            f"{analyte.value} {mmol or number} mmol/L is outside the plausible range {low}-{high} mmol/L",
        )
    return Normalised(value=float(mmol), sent_value=float(number), sent_unit=unit_text)


def _ingredient(name: str) -> Ingredient:
    return Ingredient(name=name, drug_class=DrugClass(_data()["ingredients"][name]))


def _ingredients(names: Iterable[str]) -> tuple[Ingredient, ...]:
    return tuple(_ingredient(n) for n in names)


# Answers CodeMapping remembers (products classified, codes looked up); past this many (ever new free-text
# names or codes) it starts over.
_CLASSIFIED_MAX = 10_000


@dataclass(frozen=True, slots=True)
class CodeMapping:
    """Which codes are K and Mg, and which medications belong to a watched class (built-ins + local)."""

    # (canonical system or None for "any system", code) -> analyte
    analytes: Mapping[tuple[str | None, str], Analyte]
    # (canonical system, code) -> ingredients; RxNorm and ATC
    med_codes: Mapping[tuple[str, str], tuple[Ingredient, ...]]
    # normalised phrase -> ingredients (empty: known and deliberately not watched)
    med_names: Mapping[str, tuple[Ingredient, ...]]
    _matcher: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _by_code: dict[str, Analyte] = field(init=False, repr=False, compare=False)
    _known_systems: frozenset[str] = field(init=False, repr=False, compare=False)
    # (code, system, display) -> classify's answer: a ward's orders name a few hundred products, again and
    # again. Safe from two threads (the fetch filter's and the loop's): single dict operations only.
    _classified: dict[tuple[str | None, str | None, str | None], tuple[Ingredient, ...]] = field(
        init=False, repr=False, compare=False
    )
    # (code, system) -> analyte's answer: a feed's other tests are a few hundred codes, asked for again with
    # every result. Same thread safety as _classified.
    _analyte_of: dict[tuple[str, str | None], Analyte | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Longest first, so that a phrase wins over any shorter phrase starting at the same place
        # ("potassium chloride" over "potassium chl").
        phrases = sorted(self.med_names, key=lambda p: (-len(p), p))
        pattern = r"(?<![a-z0-9])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![a-z0-9])"
        object.__setattr__(self, "_matcher", re.compile(pattern))
        object.__setattr__(self, "_by_code", {code: a for (_, code), a in self.analytes.items()})
        object.__setattr__(self, "_classified", {})
        object.__setattr__(self, "_analyte_of", {})
        known = {system for system, _ in self.analytes if system is not None}
        object.__setattr__(self, "_known_systems", frozenset(known | set(_CANONICAL.values())))

    def analyte(self, code: str, system: str | None = None) -> Analyte | None:
        """The analyte a test code stands for, or None for a test we do not watch."""
        key = (code, system)
        try:
            return self._analyte_of[key]
        except KeyError:
            pass
        answer = self._analyte(code.strip(), system)
        if len(self._analyte_of) >= _CLASSIFIED_MAX:
            self._analyte_of.clear()
        self._analyte_of[key] = answer
        return answer

    def _analyte(self, code: str, system: str | None) -> Analyte | None:
        if system is None or not system.strip():
            return self._by_code.get(code)
        return self.analytes.get((canonical_system(system), code)) or self.analytes.get((None, code))

    def under_unknown_system(self, code: str, system: str | None) -> bool:
        """True for a K or Mg code sent under a code-system spelling we do not know (ignored, but counted).

        A K code under another system we know (RxNorm, say) is simply another code there.
        """
        if system is None or not system.strip() or canonical_system(system) in self._known_systems:
            return False
        return code.strip() in self._by_code

    def classify(
        self, *, code: str | None = None, system: str | None = None, display: str | None = None
    ) -> tuple[Ingredient, ...]:
        """Every watched ingredient of a product, by RxNorm/ATC code and by name; () if none is watched."""
        key = (code, system, display)
        answer = self._classified.get(key)
        if answer is None:
            answer = self._classify(code, system, display)
            if len(self._classified) >= _CLASSIFIED_MAX:
                self._classified.clear()
            self._classified[key] = answer
        return answer

    def _classify(self, code: str | None, system: str | None, display: str | None) -> tuple[Ingredient, ...]:
        found: dict[tuple[str, DrugClass], Ingredient] = {}
        if code and code.strip():
            code = code.strip()
            systems = (canonical_system(system),) if system and system.strip() else (RXNORM, ATC)
            for sys in systems:
                for ing in self.med_codes.get((sys or "", code), ()):
                    found.setdefault((ing.name, ing.drug_class), ing)
        if display:
            for match in self._matcher.finditer(normalise_name(display)):
                for ing in self.med_names[match.group()]:
                    found.setdefault((ing.name, ing.drug_class), ing)
        return tuple(found.values())


def _builtin_parts() -> tuple[
    dict[tuple[str | None, str], Analyte],
    dict[tuple[str, str], tuple[Ingredient, ...]],
    dict[str, tuple[Ingredient, ...]],
]:
    data = _data()
    analytes: dict[tuple[str | None, str], Analyte] = {}
    for analyte, systems in data["analytes"].items():
        for key, codes in systems.items():
            for code in codes:
                analytes[(_CANONICAL[key], str(code))] = Analyte(analyte)
    med_codes: dict[tuple[str, str], tuple[Ingredient, ...]] = {}
    for key in ("rxnorm", "atc"):
        for code, names in data[key].items():
            med_codes[(_CANONICAL[key], str(code))] = _ingredients(names)
    med_names: dict[str, tuple[Ingredient, ...]] = {
        normalise_name(n): (_ingredient(n),) for n in data["ingredients"]
    }
    med_names.update({normalise_name(k): _ingredients(v) for k, v in data["names"].items()})
    return analytes, med_codes, med_names


def _lower_keys(value: object) -> object:
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else value


def _as_list(value: object) -> object:
    """A drug name maps to one class, a list of classes, or nothing."""
    if isinstance(value, dict):
        return {k: [] if v is None else v if isinstance(v, list) else [v] for k, v in value.items()}
    return value


class LocalCode(BaseModel):
    """One local analyte code; no `system` matches the code under any system."""

    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)

    system: str | None = None
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class MappingFile(BaseModel):
    """The local code-mapping file (`LYTEWATCH_CODE_MAPPING_FILE`; example: alerts/codes.example.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    analytes: Annotated[dict[Analyte, list[LocalCode]], BeforeValidator(_lower_keys)] = {}
    medications: Annotated[dict[str, list[DrugClass]], BeforeValidator(_as_list)] = {}

    @field_validator("medications")
    @classmethod
    def _names_have_letters(cls, value: dict[str, list[DrugClass]]) -> dict[str, list[DrugClass]]:
        for name in value:
            if not normalise_name(name):
                raise ValueError(f"the drug name {name!r} has no letters or digits")
        return value


def build_mapping(local: MappingFile | Mapping[str, Any] | None = None) -> CodeMapping:
    """The built-in tables, extended by a local mapping document (local entries win)."""
    analytes, med_codes, med_names = _builtin_parts()
    if local is not None and not isinstance(local, MappingFile):
        local = validate_document(local, MappingFile, source="code mapping", error=CodeMappingError)
    if local is not None:
        for analyte, codes in local.analytes.items():
            for entry in codes:
                system = canonical_system(entry.system) if entry.system else None
                analytes[(system, entry.code)] = analyte
        for name, classes in local.medications.items():
            phrase = normalise_name(name)
            med_names[phrase] = tuple(Ingredient(name=phrase, drug_class=c) for c in classes)
    return CodeMapping(analytes=analytes, med_codes=med_codes, med_names=med_names)


def load_code_mapping(path: Path | None) -> CodeMapping:
    """Built-ins plus the local YAML mapping file at `path` (None: built-ins only)."""
    if path is None:
        return DEFAULT_MAPPING
    return build_mapping(load_yaml_model(path, MappingFile, what="code mapping file", error=CodeMappingError))


DEFAULT_MAPPING = build_mapping()
