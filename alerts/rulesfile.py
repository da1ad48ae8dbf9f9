"""The rules file: thresholds, severity cut-offs, windows and enabled rules of CLINICAL_RULES.md."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from alerts.configfile import load_yaml_model
from alerts.errors import RulesFileError
from alerts.models import RuleId

__all__ = [
    "DEFAULT_RULES_PATH",
    "Limits",
    "RulesConfig",
    "SeverityConfig",
    "SeverityCutoffs",
    "Thresholds",
    "Windows",
    "format_duration",
    "load_rules",
    "parse_duration",
]

DEFAULT_RULES_PATH = Path(__file__).with_name("rules.default.yaml")

_SHORT_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """Read "48h", "30m", "2d", "90s", "1w"; anything else (ISO 8601 "PT48H", seconds) is left to pydantic."""
    if isinstance(value, str):
        match = _SHORT_DURATION.match(value)
        if match:
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])
    return value


def format_duration(value: timedelta) -> str:
    """The shortest exact short form ("48h", "30m"), so a dumped config reads like the file."""
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        count = seconds / _UNIT_SECONDS[unit]
        if count == int(count):
            return f"{int(count)}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key in an institution's file must fail loudly, not be silently ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Thresholds(_Frozen):
    """Below these values (mmol/L) a result is low."""

    potassium_low: float = Field(3.5, gt=0)
    magnesium_low: float = Field(0.70, gt=0)


class SeverityCutoffs(_Frozen):
    """A tier applies when K or Mg is below its cut-off (mmol/L)."""

    potassium_below: float = Field(gt=0)
    magnesium_below: float = Field(gt=0)


class SeverityConfig(_Frozen):
    """Severity tiers of KMG_COMBINED: critical first, then high, otherwise moderate."""

    critical: SeverityCutoffs = SeverityCutoffs(potassium_below=2.5, magnesium_below=0.50)
    high: SeverityCutoffs = SeverityCutoffs(potassium_below=3.0, magnesium_below=0.60)


class Windows(_Frozen):
    """Event-time windows of the definitions in CLINICAL_RULES.md."""

    potassium_window: Duration = timedelta(hours=48)
    magnesium_window: Duration = timedelta(hours=72)
    diuretic_lookback: Duration = timedelta(hours=24)
    replacement_recheck: Duration = timedelta(hours=4)
    replacement_lookback: Duration = timedelta(hours=48)
    discharge_reset: Duration = timedelta(hours=24)

    @model_validator(mode="after")
    def _all_positive(self) -> Windows:
        for name in type(self).model_fields:
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be a positive duration")
        return self


@dataclass(frozen=True, slots=True)
class Limits:
    """The windows in integer microseconds, the unit the engine's state keeps times in."""

    potassium_window: int
    magnesium_window: int
    diuretic_lookback: int
    replacement_recheck: int
    replacement_lookback: int
    discharge_reset: int


def _micros(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


class RulesConfig(_Frozen):
    """Everything an institution may override; the defaults are CLINICAL_RULES.md's."""

    rules_version: str = Field("2026.1", min_length=1)
    thresholds: Thresholds = Thresholds()
    severity: SeverityConfig = SeverityConfig()
    windows: Windows = Windows()
    enabled_rules: tuple[RuleId, ...] = (RuleId.KMG_COMBINED, RuleId.KMG_CHECK_MG)

    @model_validator(mode="after")
    def _tiers_are_ordered(self) -> RulesConfig:
        # A critical cut-off above the high one (or above "low") makes tiers unreachable or alerts on normals.
        crit, high, low = self.severity.critical, self.severity.high, self.thresholds
        if not crit.potassium_below <= high.potassium_below <= low.potassium_low:
            raise ValueError(
                "need severity.critical.potassium_below <= severity.high.potassium_below "
                "<= thresholds.potassium_low"
            )
        if not crit.magnesium_below <= high.magnesium_below <= low.magnesium_low:
            raise ValueError(
                "need severity.critical.magnesium_below <= severity.high.magnesium_below "
                "<= thresholds.magnesium_low"
            )
        return self

    @cached_property
    def limits(self) -> Limits:
        w = self.windows
        return Limits(
            potassium_window=_micros(w.potassium_window),
            magnesium_window=_micros(w.magnesium_window),
            diuretic_lookback=_micros(w.diuretic_lookback),
            replacement_recheck=_micros(w.replacement_recheck),
            replacement_lookback=_micros(w.replacement_lookback),
            discharge_reset=_micros(w.discharge_reset),
        )

    def is_enabled(self, rule: RuleId) -> bool:
        return rule in self.enabled_rules


def load_rules(path: Path | None) -> RulesConfig:
    """Read a rules file (YAML); None gives the defaults. Any problem raises RulesFileError naming the key."""
    if path is None:
        return RulesConfig()
    return load_yaml_model(path, RulesConfig, what="rules file", error=RulesFileError)
