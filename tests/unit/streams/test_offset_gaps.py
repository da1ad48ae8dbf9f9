"""The gap list covers the same offsets as faust's interval tree after the same additions and chops, and one
commit gets past every jump its records were applied across."""

from __future__ import annotations

import random
from collections import defaultdict
from types import SimpleNamespace

import faust.transport.consumer
import faust.utils.functional
import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from streams.worker.offset_gaps import OffsetGaps, offset_runs


def _covered(ranges: object) -> set[int]:
    return {offset for r in ranges for offset in range(r.begin, r.end)}  # type: ignore[attr-defined]


def _operations(seed: int) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    ops = []
    cursor = 0
    for _ in range(200):
        roll = rng.random()
        if roll < 0.6:
            # Mostly in order, as faust adds them: after the previous gap, touching or overlapping it.
            begin = cursor + rng.randint(-3, 5)
            end = begin + rng.randint(0, 12)
            cursor = max(cursor, end)
        elif roll < 0.85:
            begin = rng.randint(0, cursor + 5)
            end = begin + rng.randint(0, 20)
        else:
            ops.append(("chop", 0, rng.randint(0, cursor + 5)))
            continue
        ops.append(("add", begin, end))
    return ops


@pytest.mark.parametrize("seed", range(20))
def test_the_offsets_covered_are_the_tree_s(seed: int) -> None:
    tree, gaps = IntervalTree(), OffsetGaps()
    for op, begin, end in _operations(seed):
        if op == "add":
            if begin < end:  # the tree refuses an empty interval; faust never adds one
                tree.addi(begin, end)
                tree.merge_overlaps()
            gaps.addi(begin, end)
            gaps.merge_overlaps()
        else:
            tree.chop(begin, end)
            gaps.chop(begin, end)
        assert _covered(gaps) == _covered(tree)
        probe = random.Random(seed + begin).randint(0, end + 10)
        assert _covered(gaps.overlap(0, probe)) == _covered(tree.overlap(0, probe))
        assert bool(gaps) == bool(tree)


def test_ranges_stay_disjoint_and_in_order() -> None:
    gaps = OffsetGaps()
    for begin, end in [(10, 12), (12, 15), (30, 31), (5, 11), (20, 25), (0, 2)]:
        gaps.addi(begin, end)
    assert [(r.begin, r.end) for r in gaps] == [(0, 2), (5, 12), (12, 15), (20, 25), (30, 31)]
    gaps.chop(0, 21)
    assert [(r.begin, r.end) for r in gaps] == [(21, 25), (30, 31)]


def test_a_gap_ending_with_a_record_is_not_joined_to_the_gap_before_it() -> None:
    # faust's gap for a record revealed after dropped ones includes the record itself (up to 9 here); the
    # gap before it ends with the previous such record (4). Offsets 0-4 done must not make 9 done.
    gaps = OffsetGaps()
    gaps.addi(2, 5)
    gaps.addi(5, 10)
    assert [(r.begin, r.end) for r in gaps.overlap(0, 4)] == [(2, 5)]


def _commit_offset(consumer: SimpleNamespace, tp: TP) -> int | None:
    """faust's own computation of the offset to commit, run on the consumer's bookkeeping."""
    offset = Consumer._new_offset(consumer, tp)  # type: ignore[arg-type]
    if offset is not None:
        consumer._committed_offset[tp] = offset
    return offset


@pytest.mark.parametrize("with_fix", [True, False])
def test_one_commit_gets_past_every_jump_its_records_were_applied_across(
    with_fix: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records 0-4 applied, 5-8 dropped as fetched, 9 applied, 10-14 dropped, 15 applied: all of 0-15 is done,
    so one commit must reach 16 (faust's own runs stopped at 10, then at 16 a commit later)."""
    # faust's own runs, or ours (the worker's start-up puts ours in place for the whole process).
    runs = offset_runs if with_fix else faust.utils.functional.consecutive_numbers
    monkeypatch.setattr(faust.transport.consumer, "consecutive_numbers", runs)
    tp = TP("labs", 0)
    consumer = SimpleNamespace(
        _acked=defaultdict(list),
        _acked_index=defaultdict(set),
        _gap=defaultdict(OffsetGaps),
        _committed_offset=defaultdict(lambda: None),
    )
    applied = [0, 1, 2, 3, 4, 9, 15]
    for offset, previous in zip(applied, [None, *applied], strict=False):
        if previous is not None and offset - previous > 1:
            # faust's delivery loop on the jump: `_add_gap(tp, previous + 1, offset)`, the end included.
            consumer._gap[tp].addi(previous + 1, offset + 1)
        consumer._acked[tp].append(offset)
        consumer._acked_index[tp].add(offset)

    first = _commit_offset(consumer, tp)
    second = _commit_offset(consumer, tp)

    if with_fix:
        assert (first, second) == (16, None)
    else:
        assert (first, second) == (10, 16)
