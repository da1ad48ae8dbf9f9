"""What the HTTP receivers share: one JSON POST a notification, its answer classified for retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import aiohttp

from alerts.notifier.delivery import DeliveryError, classify_status
from alerts.notifier.policy import Notification
from alerts.notifier.routing import PagerDutyReceiver, SlackReceiver, WebhookReceiver

ConfigT = TypeVar("ConfigT", WebhookReceiver, SlackReceiver, PagerDutyReceiver)


class HttpReceiver(Generic[ConfigT]):
    """Posts `payload(notification)` with `headers(notification)`; subclasses say what those are."""

    type = "webhook"

    def __init__(
        self, config: ConfigT, fields: list[str], dashboard_url: str, session: aiohttp.ClientSession
    ) -> None:
        self.name = config.name
        self.config: ConfigT = config
        self.fields = fields
        self.dashboard_url = dashboard_url
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)
        self._session = session

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON document this receiver is sent."""
        raise NotImplementedError

    def headers(self, notification: Notification) -> dict[str, str] | None:
        """Extra request headers (none by default)."""
        return None

    async def send(self, notification: Notification) -> None:
        """One POST; raises DeliveryError saying whether a retry may succeed."""
        try:
            async with self._session.post(
                self.config.url,
                json=self.payload(notification),
                headers=self.headers(notification),
                timeout=self._timeout,
            ) as response:
                body = "" if response.status < 300 else (await response.text(errors="replace"))
                retry_after = response.headers.get("Retry-After")
                error = classify_status(response.status, retry_after, body, datetime.now(UTC))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retriable=True) from exc
        if error is not None:
            raise error
