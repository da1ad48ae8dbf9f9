"""Pure delivery decisions: what a receiver's answer means, and whether and when to try again."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from alerts.errors import NotifierError
from alerts.notifier.routing import RetryPolicy


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


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as delta-seconds or an HTTP date -> seconds from `now` (never negative)."""
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
    return max((when - now).total_seconds(), 0.0)


def classify_status(status: int, retry_after: str | None, body: str, now: datetime) -> DeliveryError | None:
    """None for 2xx; else the error: 408/429/5xx may succeed later, every other 4xx never will."""
    if 200 <= status < 300:
        return None
    detail, answer = f"HTTP {status}", body[:1000] or None
    if status == 429:
        delay = parse_retry_after(retry_after, now)
        return DeliveryError(detail, retriable=True, status=status, retry_after=delay, body=answer)
    return DeliveryError(detail, retriable=status >= 500 or status == 408, status=status, body=answer)


def retry_delay(error: DeliveryError, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based), or None: give up.

    A permanent error, or the last allowed attempt, gives up; a receiver's Retry-After replaces the backoff,
    capped by the policy so one slow receiver cannot park a delivery for hours.
    """
    if not error.retriable or attempt >= policy.max_attempts:
        return None
    if error.retry_after is not None:
        return min(error.retry_after, policy.max_retry_after)
    return policy.backoff(attempt)
