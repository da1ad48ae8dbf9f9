"""What every agent's batch shares: records handed to the producer, and a failure kept as a dead letter."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from alerts.errors import DeadLetterReason
from streams.codecs.deadletter import deadletter_bytes
from streams.worker.delivery import BatchDelivery
from streams.worker.envelope import Origin
from streams.worker.gaps import Record
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)


def origin_of(record: Record) -> Origin:
    """Where an input record came from, as its events and dead letters carry it."""
    return Origin(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=int(record.timestamp * 1000) if record.timestamp else None,
    )


async def send(runtime: Runtime, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
    """Hand a record to the producer; the returned awaitable resolves when the broker has it."""
    return await runtime.app.producer.send(topic, key, value, None, None, None)


def delivery_for(runtime: Runtime) -> BatchDelivery:
    """One batch's sends and dead letters, confirmed together before the batch is acknowledged."""
    return BatchDelivery(
        functools.partial(send, runtime),
        runtime.settings.topic_deadletter,
        runtime.settings.max_message_bytes,
    )


async def dead_letter_failure(
    runtime: Runtime, delivery: BatchDelivery, record: Record, origin: Origin, exc: Exception
) -> None:
    """Keep a message the worker failed on (a bug, not bad input) so nothing is lost, and go on."""
    value = deadletter_bytes(
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key=record.key,
        raw=record.value,
        reason=DeadLetterReason.PROCESSING_ERROR,
        detail=f"{type(exc).__name__}: {exc}",
        at=datetime.now(UTC),
    )
    await delivery.deadletter(record.key, value)


def log_failure(what: str, where: str, exc: Exception) -> None:
    """Name the failure at ERROR; its text and traceback, which may quote patient data, only at DEBUG."""
    log.error("%s at %s (%s); dead-lettered, going on", what, where, type(exc).__name__)
    log.debug("failure detail for %s", where, exc_info=exc)
