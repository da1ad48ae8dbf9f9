"""Reads whole topics from the beginning, without a consumer group, into a handler; outlives outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streams.kafka import client_options
from streams.settings import Settings

log = logging.getLogger(__name__)

# Consecutive empty polls after which the topic counts as read to its end even if the end-offset
# comparison has not matched yet (transaction markers can leave the position short of the high mark).
_EMPTY_POLLS_FOR_CAUGHT_UP = 3


class TopicReader:
    """Feeds every record of `topics` to `handle`; calls `on_caught_up` once the start-up end is reached.

    `handle` must not raise for bad content (it counts and logs it); an exception escaping it is logged by
    position only and the reader goes on, so one message that trips a bug cannot stall the view.
    """

    def __init__(
        self,
        settings: Settings,
        topics: list[str],
        handle: Callable[[ConsumerRecord], None],
        *,
        on_caught_up: Callable[[], None] | None = None,
        on_failure: Callable[[], None] | None = None,
        poll_ms: int = 500,
    ) -> None:
        self._settings = settings
        self._topics = topics
        self._handle = handle
        self._on_caught_up = on_caught_up
        self._on_failure = on_failure
        self._poll_ms = poll_ms
        self._caught_up = False
        # Where to go on after a reconnect, so a broker outage does not replay the topic.
        self._positions: dict[TopicPartition, int] = {}

    async def run(self) -> None:
        """Consume until cancelled, reconnecting with back-off when the broker or topic is unavailable."""
        backoff = 1.0
        while True:
            try:
                await self._consume()
            except KafkaError as exc:
                name = type(exc).__name__
                log.warning("topics %s unavailable (%s); retrying in %.0fs", self._topics, name, backoff)
            except Exception:
                # A view that silently stops updating is worse than one that logs and goes on.
                log.exception("reader of %s failed; restarting in %.0fs", self._topics, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            client_id="lytewatch-dashboard",
            **client_options(self._settings),
        )
        consumer.subscribe(self._topics)
        try:
            await consumer.start()
            for tp in consumer.assignment():
                if tp in self._positions:
                    consumer.seek(tp, self._positions[tp])
            targets = await consumer.end_offsets(list(consumer.assignment()))
            log.info("reading %s (%d partitions) from the beginning", ", ".join(self._topics), len(targets))
            empty_polls = 0
            while True:
                batch = await consumer.getmany(timeout_ms=self._poll_ms, max_records=1000)
                for tp, records in batch.items():
                    for record in records:
                        self._handle_safely(record)
                        self._positions[tp] = record.offset + 1
                empty_polls = 0 if batch else empty_polls + 1
                if not self._caught_up:
                    await self._check_caught_up(consumer, targets, empty_polls)
        finally:
            await consumer.stop()

    async def _check_caught_up(
        self, consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int], empty_polls: int
    ) -> None:
        done = empty_polls >= _EMPTY_POLLS_FOR_CAUGHT_UP
        if not done:
            positions = [await consumer.position(tp) for tp in targets]
            done = all(pos >= targets[tp] for tp, pos in zip(targets, positions, strict=True))
        if done:
            self._caught_up = True
            if self._on_caught_up is not None:
                self._on_caught_up()

    def _handle_safely(self, record: ConsumerRecord) -> None:
        try:
            self._handle(record)
        except Exception as exc:
            if self._on_failure is not None:
                self._on_failure()
            # The message text may quote the record, so only the type goes out at ERROR; details at DEBUG.
            log.error(  # noqa: TRY400
                "failed to apply the record at %s/%d/%d: %s",
                record.topic,
                record.partition,
                record.offset,
                type(exc).__name__,
            )
            log.debug("failure detail", exc_info=True)
