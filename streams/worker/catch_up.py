"""A commit asked for as soon as the one-hop engine has applied everything on the broker.

faust commits every broker_commit_interval (LYTEWATCH_COMMIT_INTERVAL_S, 2.8 s). Without this, the offsets
of a drained backlog stay uncommitted until the next tick: the consumer lag reads up to that long late, and a
crash in that time re-delivers (to be skipped again) what was already applied. It asks at most every
CATCH_UP_COMMIT_S, so at a steady rate it adds about one commit a second; during a backlog it asks nothing
(the engine is not caught up until the backlog is applied).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

#: The least time between two commits asked for by the engine.
CATCH_UP_COMMIT_S = 1.0


class CatchUpCommit:
    """Asks faust's consumer for a commit when every partition of the engine is caught up."""

    def __init__(
        self, every_s: float = CATCH_UP_COMMIT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s = every_s
        self.clock = clock
        # Records were applied since the last commit asked for (the engine's idle timer asks again later
        # for what was applied too soon after one).
        self.owed = False
        self._asked = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def applied(self) -> None:
        self.owed = True

    def maybe(self, consumer: Any, topics: Iterable[str], caught_up: Callable[[str, int], bool]) -> bool:
        """Ask for a commit (in a task of its own) if records were applied since the last one asked for, it
        is time, and every assigned partition of `topics` has nothing more on the broker than was received;
        the caller has applied all it received."""
        now = self.clock()
        if not self.owed or now - self._asked < self.every_s:
            return False
        if self._task is not None and not self._task.done():
            return False
        wanted = set(topics)
        mine = [tp for tp in consumer.assignment() if tp.topic in wanted]
        if not mine or not all(caught_up(tp.topic, tp.partition) for tp in mine):
            return False
        self._asked, self.owed = now, False
        self._task = asyncio.ensure_future(self._commit(consumer))
        return True

    @staticmethod
    async def _commit(consumer: Any) -> None:
        try:
            # faust's own: one commit at a time, acknowledged offsets only, the producer flushed first.
            await consumer.commit()
        # Whatever it was, faust's periodic commit comes anyway.
        except Exception:
            log.debug("catch-up commit failed", exc_info=True)
