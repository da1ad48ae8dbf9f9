"""The notifier's dead letters: notifications that failed for good, and alert records it could not read."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Final

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from alerts.errors import DeadLetterReason, InvalidInputError
from alerts.models import AlertEvent
from alerts.notifier.delivery import DeliveryError
from alerts.notifier.policy import Notification
from streams.codecs.deadletter import deadletter_bytes
from streams.notifier.receivers import Receiver


class UnreadableAlertError(InvalidInputError):
    """A record of the alerts topic that is not an alert event."""


#: What an alert id may look like here: it is part of delivery-log keys (`|`-separated), of links and of
#: HTTP headers (Idempotency-Key), so only the engine's own kind of id (`kmg-` + hex) and similar tokens.
ALERT_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def read_alert(value: bytes | None) -> AlertEvent:
    """The alert event of a record, or UnreadableAlertError naming the first bad field."""
    try:
        alert = AlertEvent.model_validate_json(value or b"")
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = DeadLetterReason.SCHEMA_ERROR
        if first["type"] == "json_invalid":
            reason = DeadLetterReason.NOT_JSON
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise UnreadableAlertError(reason, f"{where}: {first['msg']}") from exc
    if not ALERT_ID.fullmatch(alert.alert_id):
        raise UnreadableAlertError(
            DeadLetterReason.SCHEMA_ERROR, "alert_id: only letters, digits and . _ : - (at most 128)"
        )
    return alert


def delivery_letter(note: Notification, receiver: Receiver, exc: DeliveryError, at: datetime) -> bytes:
    """A notification given up on: the alert, the receiver, why, and the receiver's answer."""
    letter = {
        "alert": note.alert.model_dump(mode="json"),
        "receiver": note.receiver,
        "receiver_type": receiver.type,
        "notification": note.kind_label,
        "delivery_id": note.log_key,
        "reason": str(exc),
        "status": exc.status,
        "response": exc.body,
        "retriable": exc.retriable,
        "attempts": exc.attempts,
        "at": at.isoformat(),
    }
    return json.dumps(letter).encode()


def unreadable_letter(record: ConsumerRecord, reason: DeadLetterReason, detail: str, at: datetime) -> bytes:
    """A record of the alerts topic that is not an alert event: kept byte for byte, as ingest does."""
    return deadletter_bytes(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        raw=record.value or b"",
        reason=reason,
        detail=detail,
        at=at,
    )
