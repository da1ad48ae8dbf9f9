"""Generic JSON webhook receiver (with an Idempotency-Key header so a receiver can drop repeats)."""

from __future__ import annotations

from typing import Any

from alerts.notifier.messages import webhook_payload
from alerts.notifier.policy import Notification
from alerts.notifier.routing import WebhookReceiver
from streams.notifier.receivers.http import HttpReceiver


class WebhookSender(HttpReceiver[WebhookReceiver]):
    """POSTs the webhook JSON document to the configured URL."""

    type = "webhook"

    def payload(self, notification: Notification) -> dict[str, Any]:
        return webhook_payload(notification, self.fields, self.dashboard_url)

    def headers(self, notification: Notification) -> dict[str, str]:
        return {**self.config.headers, "Idempotency-Key": notification.log_key}
