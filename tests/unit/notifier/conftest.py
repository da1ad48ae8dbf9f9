"""Factory fixtures for the notifier's unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from alerts.models import AlertEvent
from alerts.notifier.policy import Transition
from alerts.notifier.routing import RoutingConfig, parse_routes
from tests.unit.notifier.alert_factory import BASE_TIME, build_alert


@pytest.fixture
def make_alert() -> Callable[..., AlertEvent]:
    return build_alert


@pytest.fixture
def make_transition() -> Callable[..., Transition]:
    """make_transition(seconds_after_base, event=..., revision=..., ...) -> Transition at that time."""

    def make(after: float, **overrides: Any) -> Transition:
        at = BASE_TIME + timedelta(seconds=after)
        alert = build_alert(emitted_at=at.isoformat(), **overrides)
        return Transition(alert, at)

    return make


@pytest.fixture
def make_routing() -> Callable[..., RoutingConfig]:
    """make_routing(route=..., **top_level) with three webhook receivers: primary, second, third."""

    def make(**document: Any) -> RoutingConfig:
        data: dict[str, Any] = {
            "receivers": [
                {"name": name, "type": "webhook", "url": f"http://127.0.0.1:9/{name}"}
                for name in ("primary", "second", "third")
            ],
        }
        if "route" not in document and "routes" not in document:
            data["route"] = {"receivers": ["primary"]}
        data.update(document)
        return parse_routes(data)

    return make
