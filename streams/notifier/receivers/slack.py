"""Slack-compatible incoming-webhook receiver (Slack, Mattermost, Rocket.Chat)."""

from __future__ import annotations

from typing import Any

from alerts.notifier.messages import slack_payload
from alerts.notifier.policy import Notification
from alerts.notifier.routing import SlackReceiver
from streams.notifier.receivers.http import HttpReceiver


class SlackSender(HttpReceiver[SlackReceiver]):
    """POSTs `{"text": ...}` to the incoming webhook."""

    type = "slack"

    def payload(self, notification: Notification) -> dict[str, Any]:
        return slack_payload(notification, self.fields, self.dashboard_url)
