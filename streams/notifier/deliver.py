"""Send one notification through a receiver with bounded retries (decided by alerts.notifier.delivery)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from alerts.notifier.delivery import DeliveryError, retry_delay
from alerts.notifier.policy import Notification
from alerts.notifier.routing import RetryPolicy
from streams.notifier.receivers import Receiver

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


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
            await receiver.send(notification)
        except DeliveryError as exc:
            exc.attempts = attempt
            delay = retry_delay(exc, attempt, policy)
            if delay is None:
                raise
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
