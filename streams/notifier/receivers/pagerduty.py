"""PagerDuty Events API v2 receiver (dedup_key = alert id: trigger, acknowledge, resolve)."""

from __future__ import annotations

from typing import Any

from alerts.notifier.messages import pagerduty_event
from alerts.notifier.policy import Notification
from alerts.notifier.routing import PagerDutyReceiver
from streams.notifier.receivers.http import HttpReceiver


class PagerDutySender(HttpReceiver[PagerDutyReceiver]):
    """POSTs an Events API v2 event with the configured routing key."""

    type = "pagerduty"

    def payload(self, notification: Notification) -> dict[str, Any]:
        key = self.config.routing_key.get_secret_value()
        return pagerduty_event(notification, key, self.config.source, self.fields, self.dashboard_url)
