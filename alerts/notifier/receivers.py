"""Delivery to receivers over HTTP (webhook, Slack, PagerDuty) and SMTP, with bounded retries."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import aiohttp

from alerts.errors import NotifierError
from alerts.notifier.messages import email_message, pagerduty_event, slack_payload, webhook_payload
from alerts.notifier.policy import Notification
from alerts.notifier.routing import (
    EmailReceiver,
    PagerDutyReceiver,
    ReceiverConfig,
    RetryPolicy,
    RoutingConfig,
    SlackReceiver,
    WebhookReceiver,
)

log = logging.getLogger(__name__)


class DeliveryError(NotifierError):
    """One attempt failed; `retriable` says whether another may succeed, `retry_after` when (seconds)."""

    def __init__(
        self,
        detail: str,
        *,
        retriable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(detail, retriable=retriable)
        self.status = status
        self.retry_after = retry_after
        # The receiver's answer goes to the dead-letter record, not into logs: it may echo the message.
        self.body = body
        self.attempts = 1


class Receiver(Protocol):
    """Something that can deliver one notification or raise DeliveryError."""

    name: str
    type: str

    async def send(self, notification: Notification) -> None: ...


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date -> seconds from now (never negative)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def classify_status(status: int, retry_after: str | None, body: str) -> DeliveryError | None:
    """None for 2xx; else the error: 408/429/5xx may succeed later, every other 4xx never will."""
    if 200 <= status < 300:
        return None
    detail, answer = f"HTTP {status}", body[:1000] or None
    if status == 429:
        delay = parse_retry_after(retry_after)
        return DeliveryError(detail, retriable=True, status=status, retry_after=delay, body=answer)
    return DeliveryError(detail, retriable=status >= 500 or status == 408, status=status, body=answer)


class _HttpReceiver:
    type = "webhook"

    def __init__(self, name: str, url: str, timeout: float, session: aiohttp.ClientSession) -> None:
        self.name = name
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session

    async def _post(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        try:
            async with self._session.post(
                self._url, json=payload, headers=headers, timeout=self._timeout
            ) as response:
                body = "" if response.status < 300 else (await response.text(errors="replace"))
                error = classify_status(response.status, response.headers.get("Retry-After"), body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retriable=True) from exc
        if error is not None:
            raise error


class WebhookSender(_HttpReceiver):
    type = "webhook"

    def __init__(
        self, config: WebhookReceiver, fields: list[str], dashboard_url: str, session: aiohttp.ClientSession
    ) -> None:
        super().__init__(config.name, config.url, config.timeout, session)
        self._headers = dict(config.headers)
        self._fields = fields
        self._dashboard_url = dashboard_url

    async def send(self, notification: Notification) -> None:
        headers = {**self._headers, "Idempotency-Key": notification.log_key}
        await self._post(webhook_payload(notification, self._fields, self._dashboard_url), headers)


class SlackSender(_HttpReceiver):
    type = "slack"

    def __init__(
        self, config: SlackReceiver, fields: list[str], dashboard_url: str, session: aiohttp.ClientSession
    ) -> None:
        super().__init__(config.name, config.url, config.timeout, session)
        self._fields = fields
        self._dashboard_url = dashboard_url

    async def send(self, notification: Notification) -> None:
        await self._post(slack_payload(notification, self._fields, self._dashboard_url))


class PagerDutySender(_HttpReceiver):
    type = "pagerduty"

    def __init__(
        self, config: PagerDutyReceiver, fields: list[str], dashboard_url: str, session: aiohttp.ClientSession
    ) -> None:
        super().__init__(config.name, config.url, config.timeout, session)
        self._routing_key = config.routing_key.get_secret_value()
        self._source = config.source
        self._fields = fields
        self._dashboard_url = dashboard_url

    async def send(self, notification: Notification) -> None:
        event = pagerduty_event(
            notification, self._routing_key, self._source, self._fields, self._dashboard_url
        )
        await self._post(event)


class EmailSender:
    """smtplib in a worker thread: no extra dependency, and one e-mail a page is a light load."""

    type = "email"

    def __init__(self, config: EmailReceiver, fields: list[str], dashboard_url: str) -> None:
        self.name = config.name
        self._config = config
        self._fields = fields
        self._dashboard_url = dashboard_url

    async def send(self, notification: Notification) -> None:
        message = email_message(
            notification, self._fields, self._dashboard_url, self._config.sender, self._config.to
        )
        await asyncio.to_thread(self._send_sync, message)

    def _send_sync(self, message: EmailMessage) -> None:
        c = self._config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
                if c.starttls:
                    context = ssl.create_default_context(cafile=str(c.ca_file) if c.ca_file else None)
                    smtp.starttls(context=context)
                if c.username:
                    smtp.login(c.username, c.password.get_secret_value() if c.password else "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused every recipient: {exc.recipients}", retriable=False) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx replies are transient by definition (RFC 5321), 5xx are permanent.
            detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            raise DeliveryError(detail, retriable=400 <= exc.smtp_code < 500) from exc
        except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
            raise DeliveryError(f"SMTP set-up: {exc}", retriable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}", retriable=True) from exc


def build_receiver(
    config: ReceiverConfig, routing: RoutingConfig, dashboard_url: str, session: aiohttp.ClientSession
) -> Receiver:
    fields: list[str] = list(routing.fields)
    url = routing.dashboard_public_url or dashboard_url
    if isinstance(config, WebhookReceiver):
        return WebhookSender(config, fields, url, session)
    if isinstance(config, SlackReceiver):
        return SlackSender(config, fields, url, session)
    if isinstance(config, PagerDutyReceiver):
        return PagerDutySender(config, fields, url, session)
    return EmailSender(config, fields, url)


def build_receivers(
    routing: RoutingConfig, dashboard_url: str, session: aiohttp.ClientSession
) -> dict[str, Receiver]:
    """Every receiver of the routing file by name; HTTP ones share `session`."""
    return {r.name: build_receiver(r, routing, dashboard_url, session) for r in routing.receivers}


Sleep = Callable[[float], Awaitable[None]]


async def _send(receiver: Receiver, notification: Notification) -> None:
    """One attempt; any other failure (a message that cannot be built or sent) is permanent.

    So one alert whose content a library refuses becomes a dead letter, and never stops the notifier.
    """
    try:
        await receiver.send(notification)
    except (DeliveryError, asyncio.CancelledError):
        raise
    except Exception as exc:  # every failure of one message must end as a dead letter
        detail = f"message not deliverable ({type(exc).__name__})"
        # The library's text may quote the message, so it goes to the dead letter, not into logs.
        raise DeliveryError(detail, retriable=False, body=str(exc)[:1000]) from exc


async def deliver(
    receiver: Receiver,
    notification: Notification,
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    on_retry: Callable[[DeliveryError, float], None] | None = None,
) -> int:
    """Send with bounded exponential backoff; return the attempts used, or raise the last DeliveryError.

    The error raised when retries run out keeps `retriable=True` and says so; `attempts` is set.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            await _send(receiver, notification)
        except DeliveryError as exc:
            exc.attempts = attempt
            if not exc.retriable or attempt >= policy.max_attempts:
                raise
            delay = policy.backoff(attempt)
            if exc.retry_after is not None:
                delay = min(exc.retry_after, policy.max_retry_after)
            if on_retry is not None:
                on_retry(exc, delay)
            log.info(
                "delivery to %s of %s failed (%s); retry %d in %.2fs",
                receiver.name,
                notification.log_key,
                exc,
                attempt,
                delay,
            )
            await sleep(delay)
        else:
            return attempt
