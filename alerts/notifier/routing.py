"""The notifier's routing file (receivers, route tree, timings, message fields) and alert matching."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from alerts.configfile import load_yaml_model, validate_document
from alerts.errors import AlertsError
from alerts.models import AlertEvent, RuleId, Severity


class RoutesFileError(AlertsError):
    """The routing file is missing, unreadable or invalid; the message names the bad key."""


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """'30s', '5m', '1h30m', '200ms' or a plain number of seconds -> seconds (float)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
ReceiverName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- receivers ---------------------------------------------------------------------------------------


class WebhookReceiver(_Strict):
    """POST a JSON document to `url`."""

    name: ReceiverName
    type: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = 10.0


class SlackReceiver(_Strict):
    """POST `{"text": ...}` to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)."""

    name: ReceiverName
    type: Literal["slack"]
    url: str = Field(pattern=r"^https?://")
    timeout: Duration = 10.0


class PagerDutyReceiver(_Strict):
    """PagerDuty Events API v2; `url` is configurable so that tests (and proxies) can stand in."""

    name: ReceiverName
    type: Literal["pagerduty"]
    routing_key: SecretStr
    url: str = Field("https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://")
    source: str = "lytewatch"
    timeout: Duration = 10.0


class EmailReceiver(_Strict):
    """Plain-text e-mail over SMTP, upgraded with STARTTLS when `starttls` is true."""

    name: ReceiverName
    type: Literal["email"]
    host: str
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout: Duration = 10.0


ReceiverConfig = Annotated[
    WebhookReceiver | SlackReceiver | PagerDutyReceiver | EmailReceiver, Field(discriminator="type")
]


# --- routes --------------------------------------------------------------------------------------------


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


class Route(_Strict):
    """A node of the route tree: matchers, receivers in escalation order, timings, child routes."""

    unit: Annotated[list[str] | None, BeforeValidator(_one_or_many)] = None
    rule: Annotated[list[RuleId] | None, BeforeValidator(_one_or_many)] = None
    # One severity means "this or higher"; a list means exactly those.
    severity: Severity | list[Severity] | None = None
    receivers: list[ReceiverName] = Field(default_factory=list)
    group_wait: Duration | None = None
    repeat_interval: Duration | None = None
    escalate_after: Duration | None = None
    continue_: bool = Field(False, alias="continue")
    routes: list[Route] = Field(default_factory=list)

    def matches_own(self, alert: AlertEvent) -> bool:
        """This node's own matchers (not its children's)."""
        unit = alert.location.unit if alert.location else None
        if self.unit is not None and unit not in self.unit:
            return False
        if self.rule is not None and alert.rule not in self.rule:
            return False
        return self.severity is None or severity_admits(self.severity, alert.severity)


def severity_admits(criterion: Severity | Sequence[Severity], severity: Severity) -> bool:
    if isinstance(criterion, Severity):
        return severity.rank >= criterion.rank
    return severity in criterion


class RetryPolicy(_Strict):
    """Bounded exponential backoff for one delivery."""

    max_attempts: int = Field(6, ge=1, le=100)
    initial_backoff: Duration = 1.0
    max_backoff: Duration = 60.0
    multiplier: float = Field(2.0, ge=1.0)
    # A Retry-After longer than this is capped, so one slow receiver cannot park a delivery for hours.
    max_retry_after: Duration = 300.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1)))


MessageField = Literal[
    "unit",
    "room",
    "bed",
    "rule",
    "severity",
    "values",
    "link",
    "event",
    "summary",
    "recommendation",
    "diuretics",
    "refractory",
    "event_time",
    "reason",
    "acknowledged_by",
    "encounter_id",
    "patient_id",
]
DEFAULT_FIELDS: tuple[MessageField, ...] = ("unit", "bed", "rule", "severity", "values", "link")


class RoutingConfig(_Strict):
    """The whole routing file."""

    receivers: list[ReceiverConfig] = Field(min_length=1)
    route: Route | None = None
    routes: list[Route] | None = None
    group_wait: Duration = 30.0
    repeat_interval: Duration | None = 4 * 3600.0
    escalate_after: Duration | None = 15 * 60.0
    fields: list[MessageField] = Field(default_factory=lambda: list(DEFAULT_FIELDS))
    dashboard_public_url: str | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    concurrency: int = Field(16, ge=1, le=1024)

    @model_validator(mode="after")
    def _check(self) -> RoutingConfig:
        if (self.route is None) == (self.routes is None):
            raise ValueError("give exactly one of 'route' (a tree) or 'routes' (a list)")
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receivers: duplicate name(s) {', '.join(duplicates)}")
        known = set(names)
        for where, node in _walk(self.root, "route" if self.route is not None else "routes"):
            for i, name in enumerate(node.receivers):
                if name not in known:
                    raise ValueError(f"{where}.receivers.{i}: unknown receiver {name!r}")
        return self

    @property
    def root(self) -> Route:
        """The route tree; the list form is a root without matchers whose children are the list."""
        if self.route is not None:
            return self.route
        return Route(routes=list(self.routes or []))

    def receiver(self, name: str) -> ReceiverConfig:
        for receiver in self.receivers:
            if receiver.name == name:
                return receiver
        raise KeyError(name)


def _walk(node: Route, where: str) -> list[tuple[str, Route]]:
    found = [(where, node)]
    for i, child in enumerate(node.routes):
        found.extend(_walk(child, f"{where}.routes.{i}" if where != "routes" else f"routes.{i}"))
    return found


# --- matching ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Where one alert goes: receivers in escalation order and the timings that apply."""

    path: str
    receivers: tuple[str, ...]
    group_wait: float
    repeat_interval: float | None
    escalate_after: float | None


@dataclass(frozen=True, slots=True)
class _Inherited:
    group_wait: float
    repeat_interval: float | None
    escalate_after: float | None
    advisory_ok: bool


def match_routes(config: RoutingConfig, alert: AlertEvent) -> list[RouteMatch]:
    """Every route this alert goes to (usually one; more with `continue: true`); [] = dashboard only."""
    base = _Inherited(config.group_wait, config.repeat_interval, config.escalate_after, advisory_ok=False)
    return _match(config.root, alert, base, "route")


def _match(node: Route, alert: AlertEvent, parent: _Inherited, path: str) -> list[RouteMatch]:
    if not node.matches_own(alert):
        return []
    here = _Inherited(
        node.group_wait if node.group_wait is not None else parent.group_wait,
        node.repeat_interval if "repeat_interval" in node.model_fields_set else parent.repeat_interval,
        node.escalate_after if "escalate_after" in node.model_fields_set else parent.escalate_after,
        # Advisory alerts belong on the dashboard; only a route that names advisory severity pages them.
        (
            severity_admits(node.severity, Severity.ADVISORY)
            if node.severity is not None
            else parent.advisory_ok
        ),
    )
    found: list[RouteMatch] = []
    for i, child in enumerate(node.routes):
        matched = _match(child, alert, here, f"{path}.{i}")
        found.extend(matched)
        if matched and not child.continue_:
            break
    if found or not node.receivers:
        return found
    if alert.severity is Severity.ADVISORY and not here.advisory_ok:
        return []
    return [
        RouteMatch(path, tuple(node.receivers), here.group_wait, here.repeat_interval, here.escalate_after)
    ]


# --- loading -------------------------------------------------------------------------------------------


def parse_routes(data: Any, source: str = "routing file") -> RoutingConfig:
    """Validate a parsed routing document; errors name the bad key, e.g. `route.routes.0.severity`."""
    return validate_document(data, RoutingConfig, source=source, error=RoutesFileError)


def load_routes(path: Path) -> RoutingConfig:
    """Read and validate the routing YAML file."""
    return load_yaml_model(path, RoutingConfig, what="routing file", error=RoutesFileError)
