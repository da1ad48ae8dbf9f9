"""The rules file: defaults, the shipped default file, overrides, durations, and errors that name the key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from alerts.errors import RulesFileError
from alerts.models import RuleId
from alerts.rulesfile import DEFAULT_RULES_PATH, RulesConfig, load_rules


@pytest.fixture
def rules_file(tmp_path: Path) -> Callable[..., Path]:
    """rules_file("yaml text") writes it and returns its path."""

    def make(text: str, name: str = "x.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return make


def test_defaults_are_those_of_clinical_rules() -> None:
    rules = load_rules(None)
    assert rules.rules_version == "2026.1"
    assert (rules.thresholds.potassium_low, rules.thresholds.magnesium_low) == (3.5, 0.70)
    assert (rules.severity.critical.potassium_below, rules.severity.critical.magnesium_below) == (2.5, 0.50)
    assert (rules.severity.high.potassium_below, rules.severity.high.magnesium_below) == (3.0, 0.60)
    w = rules.windows
    assert (w.potassium_window, w.magnesium_window, w.diuretic_lookback) == (
        timedelta(hours=48),
        timedelta(hours=72),
        timedelta(hours=24),
    )
    assert (w.replacement_recheck, w.replacement_lookback, w.discharge_reset) == (
        timedelta(hours=4),
        timedelta(hours=48),
        timedelta(hours=24),
    )
    assert set(rules.enabled_rules) == {RuleId.KMG_COMBINED, RuleId.KMG_CHECK_MG}


def test_the_shipped_default_file_writes_out_exactly_the_defaults() -> None:
    assert load_rules(DEFAULT_RULES_PATH) == RulesConfig()


def test_a_file_overrides_only_what_it_names(rules_file: Callable[..., Path]) -> None:
    rules = load_rules(
        rules_file(
            "rules_version: site-7\n"
            "thresholds: {magnesium_low: 0.85}\n"
            "windows: {potassium_window: 36h, magnesium_window: P4D, diuretic_lookback: 90m}\n"
            "enabled_rules: [KMG_COMBINED]\n"
        )
    )
    assert rules.rules_version == "site-7"
    assert rules.thresholds.magnesium_low == 0.85
    assert rules.thresholds.potassium_low == 3.5
    assert rules.windows.potassium_window == timedelta(hours=36)
    assert rules.windows.magnesium_window == timedelta(days=4)
    assert rules.windows.diuretic_lookback == timedelta(minutes=90)
    assert rules.enabled_rules == (RuleId.KMG_COMBINED,)
    assert rules.limits.potassium_window == 36 * 3600 * 10**6


def test_an_empty_file_gives_the_defaults(rules_file: Callable[..., Path]) -> None:
    assert load_rules(rules_file("")) == RulesConfig()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("thresholds: {potassium_low: abc}\n", "thresholds.potassium_low: Input should be a valid number"),
        ("thresholds: {potasium_low: 3.4}\n", "thresholds.potasium_low: Extra inputs are not permitted"),
        ("windows: {magnesium_window: soon}\n", "windows.magnesium_window"),
        ("windows: {diuretic_lookback: 0h}\n", "diuretic_lookback must be a positive duration"),
        ("enabled_rules: [KMG_NOPE]\n", "enabled_rules.0"),
        (
            "severity: {critical: {potassium_below: 3.2, magnesium_below: 0.5}}\n",
            "severity.critical.potassium_below",
        ),
        ("- just\n- a list\n", "(top level)"),
        ("thresholds: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_file_raises_an_error_naming_the_file_and_the_key(
    rules_file: Callable[..., Path], text: str, named: str
) -> None:
    path = rules_file(text)
    with pytest.raises(RulesFileError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"rules file {path}: ")
    assert named in message


def test_a_missing_file_is_a_rules_file_error(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")
