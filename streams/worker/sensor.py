"""faust's monitor without per-message bookkeeping; its few worker-level figures exported on a timer."""

from __future__ import annotations

from typing import Any

from faust.sensors.monitor import Monitor

from streams.worker.runtime import Runtime

#: Seconds between exports of faust's figures (commits, rebalances, assignments) to the registry.
EXPORT_INTERVAL_S = 5.0


class LeanMonitor(Monitor):
    """faust's Monitor keeping what happens per commit, rebalance, assignment and failed send, and nothing
    per message: faust calls these hooks for every message in and out, stream event, table access and
    send, and its Prometheus sensor updated a dozen labelled series in each (docs/BENCHMARKS.md "Lean hot
    path"). lytewatch counts its own messages (streams/metrics.py)."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_topic_buffer_full(self, tp: Any) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None


def register_export(runtime: Runtime) -> None:
    """A timer that copies the monitor's figures into the registry every EXPORT_INTERVAL_S seconds."""

    @runtime.app.timer(interval=EXPORT_INTERVAL_S, name="lytewatch.faust-figures")
    async def export() -> None:
        runtime.metrics.export_faust(runtime.app.monitor)
