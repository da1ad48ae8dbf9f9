"""Retry decisions: which failures are retried, how long to wait, when to give up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from alerts.errors import NotifierError
from alerts.models import AlertEvent
from alerts.notifier.delivery import DeliveryError, classify_status, parse_retry_after, retry_delay
from alerts.notifier.policy import Notification, NotificationKind
from alerts.notifier.routing import RetryPolicy
from streams.notifier.deliver import deliver
from tests.unit.notifier.alert_factory import BASE_TIME


class ScriptedReceiver:
    """Fails with the scripted errors, then succeeds (a stand-in for a network receiver)."""

    name = "scripted"
    type = "webhook"

    def __init__(self, *errors: DeliveryError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)


@pytest.fixture
def note(make_alert: Callable[..., AlertEvent]) -> Notification:
    return Notification("scripted", NotificationKind.TRIGGER, make_alert(), BASE_TIME)


@pytest.mark.parametrize(
    ("status", "retriable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (404, False),
    ],
)
def test_status_classification(status: int, retriable: bool) -> None:
    error = classify_status(status, None, "", BASE_TIME)
    assert isinstance(error, NotifierError)
    assert error.retriable is retriable
    assert classify_status(202, None, "", BASE_TIME) is None


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Mon, 02 Mar 2026 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 02 Mar 2026 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("whenever", now) is None
    assert parse_retry_after(None, now) is None


def test_a_429_waits_as_long_as_its_http_date_says() -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    error = classify_status(429, "Mon, 02 Mar 2026 10:00:45 GMT", "slow down", now)
    assert error is not None
    assert (error.retriable, error.retry_after, error.body) == (True, 45.0, "slow down")


def test_retry_delay_gives_up_on_permanent_errors_and_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff=1, multiplier=2)
    transient = DeliveryError("HTTP 503", retriable=True)
    assert [retry_delay(transient, attempt, policy) for attempt in (1, 2, 3)] == [1, 2, None]
    assert retry_delay(DeliveryError("HTTP 400", retriable=False), 1, policy) is None


async def _run(
    receiver: ScriptedReceiver, note: Notification, policy: RetryPolicy
) -> tuple[int, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = await deliver(receiver, note, policy, sleep=sleep)
    return attempts, slept


@pytest.mark.asyncio
async def test_backoff_grows_exponentially_up_to_its_cap(note: Notification) -> None:
    failures = [DeliveryError("HTTP 503", retriable=True, status=503) for _ in range(4)]
    policy = RetryPolicy(max_attempts=5, initial_backoff=1, max_backoff=5, multiplier=2)
    attempts, slept = await _run(ScriptedReceiver(*failures), note, policy)
    assert attempts == 5
    assert slept == [1, 2, 4, 5]


@pytest.mark.asyncio
async def test_retry_after_is_honoured_and_capped(note: Notification) -> None:
    busy = [
        DeliveryError("HTTP 429", retriable=True, retry_after=12),
        DeliveryError("x", retriable=True, retry_after=999),
    ]
    policy = RetryPolicy(initial_backoff=1, max_retry_after=60)
    _, slept = await _run(ScriptedReceiver(*busy), note, policy)
    assert slept == [12, 60]


@pytest.mark.asyncio
async def test_permanent_errors_are_not_retried(note: Notification) -> None:
    receiver = ScriptedReceiver(DeliveryError("HTTP 400", retriable=False, status=400))
    with pytest.raises(DeliveryError) as caught:
        await _run(receiver, note, RetryPolicy())
    assert (receiver.calls, caught.value.attempts) == (1, 1)


@pytest.mark.asyncio
async def test_retries_are_bounded(note: Notification) -> None:
    receiver = ScriptedReceiver(*[DeliveryError("timeout", retriable=True) for _ in range(10)])
    with pytest.raises(DeliveryError) as caught:
        await _run(receiver, note, RetryPolicy(max_attempts=3, initial_backoff=timedelta(0).total_seconds()))
    assert (receiver.calls, caught.value.attempts, caught.value.retriable) == (3, 3, True)
