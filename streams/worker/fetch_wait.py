"""The fetch wait of the worker's consumer, ours from the settings (faust hard-codes 1,500 ms for aiokafka).

aiokafka keeps one fetch in flight per broker, and leaves out of it every partition whose last records faust
has not taken yet. Under load such a fetch may hold only quiet partitions (acks, patient-events, the
assignor's topic), and the broker keeps it until fetch_max_wait_ms runs out: records arriving meanwhile on
the busy partitions wait that long (docs/BENCHMARKS.md, "Where a record waits").
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_original_create = AIOKafkaConsumerThread._create_worker_consumer
_wait_ms: dict[str, int] = {}


def _create_with_our_wait(self: Any, transport: Any) -> Any:
    consumer = _original_create(self, transport)
    wait_ms = _wait_ms.get(self.app.conf.id)
    if wait_ms is not None:
        # Read once, when the consumer starts and builds its fetcher: the consumer is not started yet here.
        consumer._fetch_max_wait_ms = wait_ms
    return consumer


def apply(app_id: str, wait_ms: int) -> None:
    """Give the worker consumers of app `app_id` (faust's group id) this fetch wait."""
    _wait_ms[app_id] = wait_ms
    AIOKafkaConsumerThread._create_worker_consumer = _create_with_our_wait  # type: ignore[method-assign]
