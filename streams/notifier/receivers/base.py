"""The `Receiver` protocol every receiver module implements."""

from __future__ import annotations

from typing import Protocol

from alerts.notifier.policy import Notification


class Receiver(Protocol):
    """Something that can deliver one notification or raise DeliveryError."""

    name: str
    type: str

    async def send(self, notification: Notification) -> None: ...
