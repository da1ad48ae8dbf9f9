"""A batch's produced records confirmed by the broker; dead letters cut down to a size the broker takes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka.errors import MessageSizeTooLargeError

log = logging.getLogger(__name__)

#: Room left in a dead letter for the key, headers and the record's own framing.
_RECORD_OVERHEAD = 1024

Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]


class DeliveryFailed(Exception):
    """The broker did not take a record of the batch: the batch is unfinished and must not be acknowledged."""


def fit_deadletter(value: bytes, limit: int) -> bytes:
    """The dead letter as is if it fits in `limit` bytes, else with its raw bytes cut to fit and said so.

    The cut record keeps its reason and where the message is (topic, partition, offset: the input topic
    still holds it whole); `truncated` gives the original size and SHA-256, and the detail says it.
    """
    if len(value) <= limit:
        return value
    record = orjson.loads(value)
    raw = base64.b64decode(record["raw"])
    kept = max(0, (limit - (len(value) - len(record["raw"])) - 512) * 3 // 4)
    return _cut(record, raw, kept)


def minimal_deadletter(value: bytes) -> bytes:
    """The dead letter without any of its raw bytes: what is sent when even a cut one is refused."""
    record = orjson.loads(value)
    return _cut(record, base64.b64decode(record["raw"]), 0)


def _cut(record: dict[str, Any], raw: bytes, kept: int) -> bytes:
    if "truncated" in record:  # already cut once: its size and hash describe the original
        size, digest = record["truncated"]["original_bytes"], record["truncated"]["sha256"]
        record["detail"] = record["detail"].rpartition(" [raw truncated")[0]
    else:
        size, digest = len(raw), hashlib.sha256(raw).hexdigest()
    record["raw"] = base64.b64encode(raw[:kept]).decode("ascii")
    record["truncated"] = {"original_bytes": size, "kept_bytes": min(kept, len(raw)), "sha256": digest}
    record["detail"] = (
        f"{record['detail']} [raw truncated: first {min(kept, len(raw))} of {size} bytes kept, the message "
        f"is too large for a dead letter; read it whole at its topic, partition and offset]"
    )
    return orjson.dumps(record)


class BatchDelivery:
    """The records one agent batch produces, and the wait until the broker has every one of them.

    Until `confirm` returns, the batch is not done: its input must not be acknowledged. A dead letter the
    broker refuses as too large is sent again without its raw bytes; any other refusal is DeliveryFailed.
    """

    def __init__(self, send: Send, deadletter_topic: str, max_bytes: int) -> None:
        self._send = send
        self._deadletter_topic = deadletter_topic
        self._limit = max_bytes - _RECORD_OVERHEAD
        self._pending: list[tuple[Awaitable[Any], str, bytes | None, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.track(await self._send(topic, key, value), topic, key, value)

    def track(self, delivered: Awaitable[Any], topic: str, key: bytes | None, value: bytes) -> None:
        """Count a record produced elsewhere (e.g. with its own timestamp) as part of this batch."""
        self._pending.append((delivered, topic, key, value))

    async def deadletter(self, key: bytes | None, value: bytes) -> None:
        fitted = fit_deadletter(value, self._limit - (len(key) if key else 0))
        if fitted is not value:
            log.warning("a dead letter was too large for the broker; its raw bytes were cut (see its detail)")
        await self.send(self._deadletter_topic, key, fitted)

    async def confirm(self) -> None:
        """Wait for the broker to have every record sent since the last call; raise DeliveryFailed if not."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        outcomes = await asyncio.gather(*(future for future, *_ in pending), return_exceptions=True)
        retries = []
        for outcome, (_, topic, key, value) in zip(outcomes, pending, strict=True):
            if not isinstance(outcome, BaseException):
                continue
            if topic == self._deadletter_topic and isinstance(outcome, MessageSizeTooLargeError):
                log.warning("the broker refused a dead letter as too large; sending it without its raw bytes")
                retries.append(await self._send(topic, key, minimal_deadletter(value)))
                continue
            raise DeliveryFailed(f"the broker did not take a record for {topic}: {type(outcome).__name__}")
        for outcome in await asyncio.gather(*retries, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise DeliveryFailed(f"the broker refused a minimal dead letter: {type(outcome).__name__}")
