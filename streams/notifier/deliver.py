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
