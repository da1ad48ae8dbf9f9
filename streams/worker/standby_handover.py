"""A standby that takes a partition over reads a store holding every changelog record faust counted as read.

Two faust-streaming defects, together, lost a patient's state when a rolling restart handed a partition
from a worker to the one that kept it as standby (alerts went missing, about one run in ten under load):

- A worker alone in the group can keep a changelog partition as standby after it was promoted to active:
  faust's copartitioned assignor is sticky and has no other worker to move the standby to. The worker then
  consumes its own changelog writes as "active recovery" records and applies them later, over newer values.
- Changelog records taken from the queue after a rebalance began (fetched while the partition was standby)
  are counted as read and buffered; when that count reaches the high-water, faust skips recovery and lets
  the streams run without applying the buffer. The patient then reads as unknown (its orders gone) until
  the next flush, which also writes the old records over what was processed meanwhile.

Here a partition assigned as active is never also a standby, and whatever the recovery buffered is applied
before the streams resume.
"""

from __future__ import annotations

from typing import Any

from faust.assignor.partition_assignor import PartitionAssignor
from faust.tables.recovery import Recovery

_original_on_assignment = PartitionAssignor.on_assignment
_original_set_recovery_ended = Recovery._set_recovery_ended


def _on_assignment_without_active_standbys(self: Any, assignment: Any) -> None:
    _original_on_assignment(self, assignment)
    actives = self._assignment.actives
    standbys = self._assignment.standbys
    for topic, partitions in list(standbys.items()):
        active = set(actives.get(topic, ()))
        if active.intersection(partitions):
            standbys[topic] = [partition for partition in partitions if partition not in active]
    self._standby_tps = self._assignment.standby_tps


def _set_recovery_ended_after_applying_buffers(self: Any) -> None:
    # Counted as read is then also in the store: the streams resume right after this, with no await between.
    self.flush_buffers()
    _original_set_recovery_ended(self)


def apply() -> None:
    PartitionAssignor.on_assignment = _on_assignment_without_active_standbys  # type: ignore[method-assign]
    Recovery._set_recovery_ended = _set_recovery_ended_after_applying_buffers  # type: ignore[method-assign]
