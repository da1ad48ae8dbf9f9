"""faust's Kafka consumer run on the worker's own event loop, instead of in a thread with a loop of its own.

faust-streaming runs aiokafka's consumer in a thread (`AIOKafkaConsumerThread`, a mode `ServiceThread`) and
asks it for every fetch, commit and seek through a method queue: each call crosses threads twice (a
`call_soon_threadsafe` wake-up each way) and the two threads take turns at the GIL. At 1,000 events/s that
hand-off is paid for nearly every record, and a record waits for both loops to get the GIL before the engine
sees it. aiokafka is built to run on the loop that uses it; here the same service runs there, its calls are
plain awaits, and faust's rebalance callbacks (which the consumer hands to the main loop's method queue and
awaits) reach the same loop. Measured in docs/BENCHMARKS.md ("faust's consumer on the worker's loop").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from mode import Service
from mode.utils.futures import maybe_async


class InLoopConsumerThread(AIOKafkaConsumerThread):
    """faust's consumer "thread" as a service on the loop of the consumer that owns it: no thread started."""

    # A ServiceThread's stop waits for its thread to say it is done; there is no thread to say so.
    wait_for_shutdown = False

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        loop = kwargs.get("loop") or asyncio.get_event_loop()
        super().__init__(consumer, thread_loop=loop, **kwargs)

    async def start(self) -> None:
        # What ServiceThread._serve does first in its thread. The method queue it would then start is never
        # used: calls below run directly.
        self._thread_started.set()
        await self._default_start()

    async def stop(self) -> None:
        if self._started.is_set():
            await Service.stop(self)

    async def on_stop(self) -> None:
        # ServiceThread calls this as its thread ends: it stops aiokafka's consumer (leaving the group).
        await self.on_thread_stop()

    # ServiceThread leaves these to its thread, or hands them to the other loop; here they are Service's own.
    def _stopped_set(self) -> None:
        self._stopped.set()

    def set_shutdown(self) -> None:
        self._shutdown.set()

    async def _stop_children(self) -> None:
        await self._default_stop_children()

    async def _stop_futures(self) -> None:
        await self._default_stop_futures()

    async def _stop_exit_stacks(self) -> None:
        await self._default_stop_exit_stacks()

    async def call_thread(self, fun: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        return await maybe_async(fun(*args, **kwargs))

    async def cast_thread(self, fun: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        self.add_future(maybe_async(fun(*args, **kwargs)))


def _new_consumer_thread(self: Any) -> AIOKafkaConsumerThread:
    return InLoopConsumerThread(self, loop=self.loop, beacon=self.beacon)


def apply() -> None:
    """Give every faust aiokafka consumer built from now on its consumer service on its own loop."""
    Consumer._new_consumer_thread = _new_consumer_thread  # type: ignore[method-assign]
