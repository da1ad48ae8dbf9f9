"""A local state store ahead of its changelog is moved aside and rebuilt from it, as Kafka Streams does.

When the broker's data is rebuilt, or the changelog topic is deleted and created again, the RocksDB partition
of a worker that kept its data directory remembers an offset past the changelog's end. faust then stops the
recovery with ConsistencyError ("persisted offset ... is higher than the last offset in that topic") and
the worker crash-loops. Here such a partition's store is moved aside (kept for inspection, never deleted)
and its recovery starts from the beginning of the changelog, with a WARNING that says why.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from faust.tables.recovery import Recovery

log = logging.getLogger(__name__)

_original_build_offsets = Recovery._build_offsets


async def _build_offsets_not_past_the_end(
    self: Any, consumer: Any, tps: set[Any], destination: Counter[Any], title: str
) -> None:
    await _original_build_offsets(self, consumer, tps, destination, title)
    if not tps:
        return
    ends = await consumer.highwaters(*tps)
    for tp in tps:
        end = ends.get(tp)
        persisted = destination.get(tp)
        # faust counts a changelog's last offset as end - 1, -1 for an empty one.
        if end is None or persisted is None or persisted <= end - 1:
            continue
        moved = _move_aside(self.tp_to_table[tp], tp.partition)
        log.warning(
            "state store of %s[%d] is ahead of its changelog (applied up to offset %d, the changelog ends at "
            "%d): the changelog was recreated or the broker's data rebuilt; the store was moved to %s and is "
            "rebuilt from the changelog",
            tp.topic,
            tp.partition,
            persisted,
            end - 1,
            moved,
        )
        destination[tp] = -1


def _move_aside(table: Any, partition: int) -> str:
    """Close the partition's RocksDB and rename its directory; the next access opens an empty one."""
    store = table.data
    db = store._dbs.pop(partition, None)
    if db is not None:
        db.close()
    store._key_index.clear()
    path = store.partition_path(partition)
    if not path.exists():
        return "(nothing on disk)"
    target = path.with_name(f"{path.name}.stale-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
    path.rename(target)
    return str(target)


def apply() -> None:
    Recovery._build_offsets = _build_offsets_not_past_the_end  # type: ignore[method-assign]
