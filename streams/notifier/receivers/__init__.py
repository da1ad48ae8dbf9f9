"""Receivers, one module each behind the `Receiver` protocol, built by name from the routing file."""

from __future__ import annotations

import aiohttp

from alerts.notifier.routing import (
    EmailReceiver,
    PagerDutyReceiver,
    ReceiverConfig,
    RoutingConfig,
    SlackReceiver,
    WebhookReceiver,
)
from streams.notifier.receivers.base import Receiver
from streams.notifier.receivers.email import EmailSender
from streams.notifier.receivers.pagerduty import PagerDutySender
from streams.notifier.receivers.slack import SlackSender
from streams.notifier.receivers.webhook import WebhookSender

__all__ = ["Receiver", "build_receiver", "build_receivers"]


def build_receiver(
    config: ReceiverConfig, routing: RoutingConfig, dashboard_url: str, session: aiohttp.ClientSession
) -> Receiver:
    """The receiver for one entry of the routing file; HTTP ones post through `session`."""
    fields: list[str] = list(routing.fields)
    url = routing.dashboard_public_url or dashboard_url
    if isinstance(config, WebhookReceiver):
        return WebhookSender(config, fields, url, session)
    if isinstance(config, SlackReceiver):
        return SlackSender(config, fields, url, session)
    if isinstance(config, PagerDutyReceiver):
        return PagerDutySender(config, fields, url, session)
    if isinstance(config, EmailReceiver):
        return EmailSender(config, fields, url)
    raise TypeError(f"no receiver for {type(config).__name__}")


def build_receivers(
    routing: RoutingConfig, dashboard_url: str, session: aiohttp.ClientSession
) -> dict[str, Receiver]:
    """Every receiver of the routing file by name; HTTP ones share `session`."""
    return {r.name: build_receiver(r, routing, dashboard_url, session) for r in routing.receivers}
