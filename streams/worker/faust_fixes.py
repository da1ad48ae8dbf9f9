"""A fix for a faust-streaming bug that stops offset commits after a restart (applied by worker.app)."""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer

_original_new_offset = Consumer._new_offset


def _new_offset_without_repeats(self: Any, tp: Any) -> int | None:
    """Commit past messages that were acknowledged twice.

    After a restart, faust may deliver the first messages of a partition both before and after it seeks
    back to the committed offset (faust-streaming issue #596). Each is then acknowledged twice, and faust's
    search for the first run of consecutive acknowledged offsets stops at every repeat: commits advance by
    one offset per commit interval and the partition looks stuck. Dropping repeats, and offsets below the
    committed one (already done), restores the intended behaviour; it never commits past an offset that
    was not acknowledged, so at-least-once delivery is kept.
    """
    acked = self._acked[tp]
    if acked:
        committed = self._committed_offset[tp]
        unique = sorted(set(acked))
        if committed is not None:
            unique = [offset for offset in unique if offset >= committed]
        acked[:] = unique
        if not acked:
            return None
    return _original_new_offset(self, tp)


def apply() -> None:
    Consumer._new_offset = _new_offset_without_repeats  # type: ignore[method-assign]
