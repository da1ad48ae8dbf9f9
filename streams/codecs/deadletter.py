"""Builds the `ingest.deadletter` record of EVENTS.md for an input message that could not be used."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson

from alerts.errors import DeadLetterReason


def deadletter_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | str | None,
    raw: bytes,
    reason: DeadLetterReason | str,
    detail: str,
    at: datetime,
) -> dict[str, Any]:
    """The dead-letter record as a JSON-ready dict; `raw` is kept byte for byte (base64).

    A key that is not UTF-8 is kept as base64 too, prefixed "base64:", so nothing is lost.
    """
    if isinstance(key, bytes):
        try:
            key_text: str | None = key.decode("utf-8")
        except UnicodeDecodeError:
            key_text = "base64:" + base64.b64encode(key).decode("ascii")
    else:
        key_text = key
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key_text,
        "raw": base64.b64encode(raw).decode("ascii"),
        "reason": str(DeadLetterReason(reason)),
        "detail": detail,
        "at": at.isoformat(),
    }


def deadletter_bytes(**fields: Any) -> bytes:
    """deadletter_record(...) serialised as the UTF-8 JSON message value."""
    return orjson.dumps(deadletter_record(**fields))
