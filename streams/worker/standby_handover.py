"""A standby copy of the patients misses no changelog record, so a worker taking a partition over misses none.

Two faust-streaming defects lost patients' state when a rolling restart handed a partition to the worker
that had kept it as standby (their alerts went missing; about one rolling-restart test run in ten under load):

- Recovery resumes the standby partitions (their records start to arrive in the changelog queue), then, in
  `on_recovery_completed`, resumes the flow once more, and every resume clears that queue. Records fetched in
  between are dropped, the fetch position has moved past them, and the standby's store skips them for good;
  its persisted offset then jumps past the hole with the next records. On takeover the store looks up to
  date: a patient last written in the hole reads as unknown (its diuretic orders gone), no alert fires.
- A worker alone in the group keeps a changelog partition as standby after it is promoted to active (faust's
  copartitioned assignor is sticky and has no other worker to move the standby to). It then reads its own
  changelog writes back as recovery records and applies them later, over newer values.

Here the last resume of a recovery keeps the changelog queue (the earlier ones, which come right after a
seek, still clear it), and a partition assigned as active is never also a standby.
"""

from __future__ import annotations

from typing import Any

from faust.assignor.partition_assignor import PartitionAssignor
from faust.tables.recovery import Recovery

_original_on_assignment = PartitionAssignor.on_assignment
_original_on_recovery_completed = Recovery.on_recovery_completed


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
