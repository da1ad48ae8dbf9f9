"""Readers of the deploy files (Prometheus config and rules, Grafana JSON) shared by ops tests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules.yml"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "lytewatch.json"
OPERATIONS_DOC = REPO / "docs" / "OPERATIONS.md"

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "offset", "bool", "inf", "nan"}
)
# Series Prometheus itself produces for every target.
PROMETHEUS_OWN = frozenset({"up"})


def require_tool(name: str) -> str:
    """Path of a Prometheus binary; fail (not skip) when missing, CI must install Debian's `prometheus`."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} not found: install it with `apt-get install -y prometheus`")
    return path


def load_rules() -> list[dict[str, Any]]:
    """Every rule of rules.yml, flattened over its groups."""
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def load_dashboard() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return result


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in load_dashboard()["panels"] for target in panel.get("targets", [])]


def rule_exprs() -> list[str]:
    return [rule["expr"] for rule in load_rules()]


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (functions, keywords and label names dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\boffset\s+\w+", "", text)
    tokens = re.findall(r"(?<![\w.$])([A-Za-z_:][\w:]*)(?!\w)(\s*\()?", text)
    return {name for name, call in tokens if not call and name.lower() not in _KEYWORDS}
