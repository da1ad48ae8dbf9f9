"""The routing file: validation errors name the bad key; alerts go to the routes they match."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alerts.models import AlertEvent
from alerts.notifier.routing import (
    RoutesFileError,
    RoutingConfig,
    load_routes,
    match_routes,
    parse_duration,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("200ms", 0.2),
        ("0.2s", 0.2),
        (15, 15.0),
        ("2d", 172800),
    ],
)
def test_durations_accept_the_usual_spellings(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["soon", "5 parsecs", True, "m5"])
def test_durations_reject_nonsense(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_example_file_is_valid() -> None:
    config = load_routes(REPO / "alerts" / "notifier" / "routes.example.yaml")
    assert {r.type for r in config.receivers} == {"webhook", "pagerduty", "slack", "email"}


@pytest.mark.parametrize(
    ("patch", "bad_key"),
    [
        ({"route": {"receivers": ["nobody"]}}, "route.receivers.0"),
        (
            {"route": {"receivers": ["primary"], "routes": [{"severity": "severe"}]}},
            "route.routes.0.severity",
        ),
        ({"route": {"receivers": ["primary"], "group_wait": "soon"}}, "route.group_wait"),
        ({"route": {"receivers": ["primary"], "colour": "red"}}, "route.colour"),
        ({"fields": ["unit", "shoe_size"]}, "fields.1"),
    ],
)
def test_bad_file_fails_naming_the_bad_key(
    make_routing: Callable[..., RoutingConfig], patch: dict[str, Any], bad_key: str
) -> None:
    with pytest.raises(RoutesFileError) as caught:
        make_routing(**patch)
    assert f"{bad_key}: " in str(caught.value)
    assert "[" not in str(caught.value).split(":")[1]  # no pydantic union tags in the key


def test_a_receiver_without_its_required_key_is_named() -> None:
    document = {"receivers": [{"name": "pd", "type": "pagerduty"}], "route": {"receivers": ["pd"]}}
    with pytest.raises(RoutesFileError, match=r"receivers\.0\.routing_key"):
        from alerts.notifier.routing import parse_routes

        parse_routes(document)


def test_unreadable_or_invalid_yaml_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RoutesFileError, match="cannot read"):
        load_routes(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("receivers: [\n")
    with pytest.raises(RoutesFileError, match="not valid YAML"):
        load_routes(broken)


def test_duplicate_receiver_names_are_refused(make_routing: Callable[..., RoutingConfig]) -> None:
    receivers = [{"name": "a", "type": "webhook", "url": "http://x/"}] * 2
    with pytest.raises(RoutesFileError, match="duplicate"):
        make_routing(receivers=receivers, route={"receivers": ["a"]})


def _receivers(config: RoutingConfig, alert: AlertEvent) -> list[tuple[str, ...]]:
    return [m.receivers for m in match_routes(config, alert)]


def test_unit_rule_and_severity_pick_the_route(
    make_routing: Callable[..., RoutingConfig], make_alert: Callable[..., AlertEvent]
) -> None:
    config = make_routing(
        route={
            "receivers": ["third"],
            "routes": [
                {"unit": ["ICU", "CCU"], "receivers": ["primary"]},
                {"rule": "KMG_COMBINED", "severity": "high", "receivers": ["second", "primary"]},
            ],
        }
    )
    icu = {"unit": "ICU", "bed": "3"}
    assert _receivers(config, make_alert(location=icu)) == [("primary",)]
    assert _receivers(config, make_alert(severity="critical")) == [("second", "primary")]
    assert _receivers(config, make_alert(severity="high")) == [("second", "primary")]
    # Falls through to the parent's receivers when no child matches.
    assert _receivers(config, make_alert(severity="moderate")) == [("third",)]
    assert _receivers(config, make_alert(location=None)) == [("third",)]


def test_severity_list_means_exactly_those(
    make_routing: Callable[..., RoutingConfig], make_alert: Callable[..., AlertEvent]
) -> None:
    config = make_routing(routes=[{"severity": ["moderate"], "receivers": ["primary"]}])
    assert _receivers(config, make_alert(severity="moderate")) == [("primary",)]
    assert _receivers(config, make_alert(severity="critical")) == []


def test_advisory_alerts_stay_on_the_dashboard_unless_a_route_names_them(
    make_routing: Callable[..., RoutingConfig], make_alert: Callable[..., AlertEvent]
) -> None:
    advisory = make_alert(rule="KMG_CHECK_MG", severity="advisory")
    assert _receivers(make_routing(), advisory) == []
    assert _receivers(make_routing(), make_alert()) == [("primary",)]
    opted_in = make_routing(
        route={"receivers": ["primary"], "routes": [{"severity": "advisory", "receivers": ["second"]}]}
    )
    assert _receivers(opted_in, advisory) == [("second",)]


def test_continue_sends_to_every_matching_route(
    make_routing: Callable[..., RoutingConfig], make_alert: Callable[..., AlertEvent]
) -> None:
    config = make_routing(
        routes=[
            {"severity": "critical", "receivers": ["second"], "continue": True},
            {"receivers": ["primary"]},
            {"receivers": ["third"]},
        ]
    )
    assert _receivers(config, make_alert(severity="critical")) == [("second",), ("primary",)]
    assert _receivers(config, make_alert(severity="moderate")) == [("primary",)]


def test_timings_inherit_down_the_tree(
    make_routing: Callable[..., RoutingConfig], make_alert: Callable[..., AlertEvent]
) -> None:
    config = make_routing(
        group_wait="10s",
        route={
            "receivers": ["primary"],
            "repeat_interval": "1h",
            "routes": [
                {"unit": "4W", "receivers": ["second"], "escalate_after": "5m", "repeat_interval": None}
            ],
        },
    )
    (match,) = match_routes(config, make_alert())
    assert (match.group_wait, match.repeat_interval, match.escalate_after) == (10.0, None, 300.0)
    (parent,) = match_routes(config, make_alert(location={"unit": "5E"}))
    assert (parent.group_wait, parent.repeat_interval, parent.escalate_after) == (10.0, 3600.0, 900.0)
