"""The engine's catch-up commit: asked for once what was applied is all there is, at most once a second."""

from __future__ import annotations

import asyncio

from faust.types import TP

from streams.worker.catch_up import CatchUpCommit

TOPICS = ("labs", "orders")


class Consumer:
    """The two calls of faust's consumer the catch-up commit makes."""

    def __init__(self, *tps: TP) -> None:
        self.tps = set(tps)
        self.commits = 0

    def assignment(self) -> set[TP]:
        return self.tps

    async def commit(self) -> bool:
        self.commits += 1
        return True


def test_a_commit_is_asked_for_when_applied_records_leave_every_partition_caught_up() -> None:
    async def go() -> None:
        now = [100.0]
        commit = CatchUpCommit(every_s=1.0, clock=lambda: now[0])
        consumer = Consumer(TP("labs", 0), TP("orders", 0), TP("changelog", 0))
        behind = {("orders", 0)}

        def caught_up(topic: str, partition: int) -> bool:
            return (topic, partition) not in behind

        assert not commit.maybe(consumer, TOPICS, caught_up), "nothing applied yet"
        commit.applied()
        assert not commit.maybe(consumer, TOPICS, caught_up), "orders[0] has more on the broker"
        behind.clear()
        assert commit.maybe(consumer, TOPICS, caught_up)
        await asyncio.sleep(0)
        assert consumer.commits == 1
        # Applied again half a second later: owed, asked for once the second has passed (the idle timer).
        now[0] += 0.5
        commit.applied()
        assert not commit.maybe(consumer, TOPICS, caught_up)
        now[0] += 0.6
        assert commit.maybe(consumer, TOPICS, caught_up)
        assert not commit.maybe(consumer, TOPICS, caught_up), "nothing applied since"
        await asyncio.sleep(0)
        assert consumer.commits == 2

    asyncio.run(go())


def test_a_partition_of_another_topic_does_not_hold_the_commit_back() -> None:
    async def go() -> None:
        commit = CatchUpCommit(every_s=1.0, clock=lambda: 0.0)
        consumer = Consumer(TP("labs", 1), TP("changelog", 1))
        commit.applied()
        assert commit.maybe(consumer, TOPICS, lambda topic, _: topic == "labs")
        await asyncio.sleep(0)
        assert consumer.commits == 1

    asyncio.run(go())
