"""Record-timestamp order across co-partitioned input topics: Kafka Streams' PartitionGroup, in pure Python.

A group holds, for one partition number, a FIFO of buffered records per topic. The next record to apply is
the head with the smallest (record timestamp, topic rank, offset). A topic with nothing buffered holds the
group back while it may still have records to deliver (its fetched lag is not known to be zero), for at most
the idle time (Kafka Streams' `max.task.idle.ms`), and without limit while it is known to hold more records
(its high-water is past what was received); a topic known to be caught up never holds it back, so
live traffic is not delayed. No Kafka, clock or I/O here: the caller says what time it is and which topics
are caught up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def _never(topic: str) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Buffered(Generic[T]):
    """One buffered record: its ordering key and whatever the caller needs to apply it."""

    timestamp_ms: int
    rank: int
    offset: int
    item: T


class PartitionGroup(Generic[T]):
    """One partition number of every co-partitioned topic; `topics` in tie-break order (first wins a tie)."""

    def __init__(self, topics: Sequence[str], idle_s: float) -> None:
        self.topics = tuple(topics)
        self.idle_s = idle_s
        self._rank = {topic: n for n, topic in enumerate(self.topics)}
        self._queues: dict[str, deque[Buffered[T]]] = {topic: deque() for topic in self.topics}
        # topic -> when it was first seen empty while it might still deliver (for the idle timeout)
        self._empty_since: dict[str, float] = {}
        self._last_timestamp: dict[str, int] = {}
        # Records applied while a topic that might still have had earlier records was given up on.
        self.enforced = 0
        self.gave_up_on: tuple[str, ...] = ()

    def add(self, topic: str, timestamp_ms: int | None, offset: int, item: T) -> None:
        """Buffer a record; one without a timestamp takes its topic's last one, so it never jumps ahead."""
        if timestamp_ms is None or timestamp_ms < 0:
            timestamp_ms = self._last_timestamp.get(topic, 0)
        self._last_timestamp[topic] = timestamp_ms
        self._queues[topic].append(Buffered(timestamp_ms, self._rank[topic], offset, item))

    def size(self, topic: str) -> int:
        return len(self._queues[topic])

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    def clear(self) -> list[Buffered[T]]:
        """Forget everything buffered (a rebalance); returns what was dropped."""
        dropped = [entry for queue in self._queues.values() for entry in queue]
        for queue in self._queues.values():
            queue.clear()
        self._empty_since.clear()
        return dropped

    def waiting_for(
        self, now: float, caught_up: Callable[[str], bool], behind: Callable[[str], bool] = _never
    ) -> list[str]:
        """Empty topics that may still deliver and whose idle time has not run out yet, and empty topics
        known to hold more records (`behind`), which are waited for without limit, as in Kafka Streams: the
        idle clock would otherwise run out during a broker outage and let the first topic fetched afterwards
        run ahead of the others."""
        waiting = []
        for topic, queue in self._queues.items():
            if queue or caught_up(topic):
                self._empty_since.pop(topic, None)
                continue
            if behind(topic):
                self._empty_since.pop(topic, None)
                waiting.append(topic)
                continue
            since = self._empty_since.setdefault(topic, now)
            if now - since < self.idle_s:
                waiting.append(topic)
        return waiting

    def pop(
        self, now: float, caught_up: Callable[[str], bool], behind: Callable[[str], bool] = _never
    ) -> Buffered[T] | None:
        """The next record in timestamp order, or None if the group is empty or must wait for a topic."""
        run = self.pop_run(now, caught_up, behind, 1)
        return run[0] if run else None

    def pop_run(
        self,
        now: float,
        caught_up: Callable[[str], bool],
        behind: Callable[[str], bool] = _never,
        limit: int = 1,
    ) -> list[Buffered[T]]:
        """Up to `limit` next records in timestamp order: what `pop` gives called that many times.

        The topics to wait for are asked again only when a queue runs empty: until then every topic that
        held the group back before still has records, and the answers for the empty ones belong to the
        same moment (`now`), as in Kafka Streams, which asks once per processing loop.
        """
        run: list[Buffered[T]] = []
        while len(run) < limit:
            heads = [queue for queue in self._queues.values() if queue]
            if not heads or self.waiting_for(now, caught_up, behind):
                break
            given_up = bool(self._empty_since)
            if given_up:
                # Only topics whose idle time ran out are left here: going on without them.
                self.gave_up_on = tuple(self._empty_since)
            while len(run) < limit:
                best = heads[0] if len(heads) == 1 else min(heads, key=_head_order)
                run.append(best.popleft())
                if given_up:
                    self.enforced += 1
                if not best:
                    break
        return run


def _head_order(queue: deque[Buffered[T]]) -> tuple[int, int, int]:
    head = queue[0]
    return head.timestamp_ms, head.rank, head.offset
