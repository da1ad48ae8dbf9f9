"""A standby copy of the patients misses no changelog record, so a worker taking a partition over misses none.

faust-streaming defects lost patients' state when a rolling restart handed a partition to the worker that had
kept it as standby (their alerts went missing; about one rolling-restart test run in ten under load). Each
leaves a hole in the standby's store that nothing repairs: the fetch position has moved past the records, and
the persisted offset jumps past the hole with the next ones. On takeover the store looks up to date, and a
patient last written in the hole reads as unknown (its diuretic orders gone): no alert fires.

- faust hands aiokafka its live set of unpaused partitions for a fetch. When recovery ends it pauses the
  active changelog partitions, and until the standby ones resume the set is empty, which aiokafka reads as
  "every partition": it returns the standby records just sought, and faust drops them as paused. Seen in
  each of the seven failing runs examined (records fetched from the sought offset, the first one handed on
  hundreds of offsets later, or the standby's applied records starting past it). Here aiokafka gets a view
  of the set that is never empty, so it keeps paused partitions' records for later.
- Every resume of the flow clears the changelog queue, also the last one of a recovery, after the standby
  partitions had resumed, so standby records queued in between would be dropped (a clear dropping one queued
  changelog record was seen once, before its call site was traced). That resume keeps the queue now (the
  earlier ones come right after a seek and still clear it).
- A worker alone in the group keeps a changelog partition as standby after it is promoted to active (faust's
  copartitioned assignor is sticky and has no other worker to move the standby to). It then reads its own
  changelog writes back as recovery records and applies them later, over newer values. A partition assigned
  as active is never also a standby here.
"""

from __future__ import annotations

from typing import Any

from faust.assignor.partition_assignor import PartitionAssignor
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_original_on_assignment = PartitionAssignor.on_assignment
_original_on_recovery_completed = Recovery.on_recovery_completed
_original_fetch_records: Any = AIOKafkaConsumerThread._fetch_records


class _NeverEmpty:
    """The partitions faust lets through, read live; never empty, since aiokafka takes empty for all."""

    __slots__ = ("partitions",)

    def __init__(self, partitions: Any) -> None:
        self.partitions = partitions

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.partitions


async def fetch_records_of_unpaused_partitions(
    self: Any, consumer: Any, active_partitions: Any, **kw: Any
) -> Any:
    # None (faust's client-only mode) means every partition on purpose.
    partitions = active_partitions if active_partitions is None else _NeverEmpty(active_partitions)
    return await _original_fetch_records(self, consumer, partitions, **kw)


def _on_assignment_without_active_standbys(self: Any, assignment: Any) -> None:
    _original_on_assignment(self, assignment)
    actives = self._assignment.actives
    standbys = self._assignment.standbys
    for topic, partitions in list(standbys.items()):
        active = set(actives.get(topic, ()))
        if active.intersection(partitions):
            standbys[topic] = [partition for partition in partitions if partition not in active]
    self._standby_tps = self._assignment.standby_tps


async def _on_recovery_completed_keeping_standby_records(self: Any, generation_id: int = 0) -> None:
    flow_control = self.app.flow_control
    queue = self.tables.changelog_queue
    # Nothing was sought since the standby partitions resumed: what the queue holds is the next records.
    flow_control._queues.discard(queue)
    try:
        await _original_on_recovery_completed(self, generation_id)
    finally:
        flow_control.manage_queue(queue)


def apply() -> None:
    PartitionAssignor.on_assignment = _on_assignment_without_active_standbys  # type: ignore[method-assign]
    Recovery.on_recovery_completed = _on_recovery_completed_keeping_standby_records  # type: ignore[method-assign]
    AIOKafkaConsumerThread._fetch_records = fetch_records_of_unpaused_partitions  # type: ignore[method-assign,assignment]
