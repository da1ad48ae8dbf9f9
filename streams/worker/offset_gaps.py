"""faust's record of offsets done without a message, kept in a sorted list instead of an interval tree.

faust's consumer notes every jump in a partition's offsets (records it never saw: compacted, transaction
markers, or dropped by streams.worker.prefilter) in an `intervaltree.IntervalTree`, and calls
`merge_overlaps()` after each addition, which rebuilds the whole tree. Until the next commit takes them out,
ranges pile up, so each addition costs more: a quarter of the worker's time on a lab feed that is mostly
ignored (docs/BENCHMARKS.md, "Ignored input dropped as it is fetched"). This is the part of the tree's
interface faust uses, over a sorted list of disjoint ranges; ranges mostly arrive in offset order, so adding
one is an append or a merge with the last (else a bisection). The offsets it covers, and so what faust
commits, are the same.

Also here, `offset_runs`: faust's commit read its list of done offsets only up to the first record that
came after a jump (see there), so its commits fell behind by a jump per partition per commit.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import faust.transport.consumer


class Range(NamedTuple):
    """Offsets `begin` .. `end - 1` (the tree's Interval: faust reads `begin` and `end`)."""

    begin: int
    end: int


class OffsetGaps:
    """Disjoint [begin, end) ranges in order."""

    __slots__ = ("_ranges",)

    def __init__(self) -> None:
        self._ranges: list[Range] = []

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __len__(self) -> int:
        return len(self._ranges)

    def __iter__(self) -> Any:
        return iter(self._ranges)

    def addi(self, begin: int, end: int, data: object = None) -> None:
        """Add [begin, end), merged with every range it overlaps.

        Adjacent ranges stay apart, as in the tree (faust's `merge_overlaps` is strict): faust counts a gap
        done once an offset after its start is acknowledged, and its own gaps end with the record that
        revealed them, which must not count as done through a merge with the gap before it.
        """
        if begin >= end:
            return
        ranges = self._ranges
        if not ranges or begin >= ranges[-1].end:
            ranges.append(Range(begin, end))
            return
        last = ranges[-1]
        if begin >= last.begin:
            ranges[-1] = Range(last.begin, max(end, last.end))
            return
        # Behind the last range (our gap guard marks a range after faust has noted later ones): the ranges
        # it overlaps are consecutive, from the one before the first that begins at or after it.
        at = bisect.bisect_left(ranges, Range(begin, begin))
        low = at - 1 if at > 0 and ranges[at - 1].end > begin else at
        high = at
        while high < len(ranges) and ranges[high].begin < end:
            high += 1
        if low == high:
            ranges.insert(at, Range(begin, end))
        else:
            ranges[low:high] = [Range(min(begin, ranges[low].begin), max(end, ranges[high - 1].end))]

    def merge_overlaps(self) -> None:
        """Nothing to do: ranges are merged as they are added."""

    def overlap(self, begin: int, end: int) -> list[Range]:
        """The ranges sharing at least one offset with [begin, end)."""
        return [r for r in self._ranges if r.begin < end and r.end > begin]

    def chop(self, begin: int, end: int) -> None:
        """Take the offsets [begin, end) out of every range."""
        kept: list[Range] = []
        for r in self._ranges:
            if r.end <= begin or r.begin >= end:
                kept.append(r)
                continue
            if r.begin < begin:
                kept.append(Range(r.begin, begin))
            if r.end > end:
                kept.append(Range(end, r.end))
        self._ranges = kept


def offset_runs(it: Iterable[int]) -> Iterator[Sequence[int]]:
    """faust's `consecutive_numbers` for its commits, over sorted offsets where one may appear twice.

    The gap faust notes for a jump ends with the record that revealed it (`_add_gap(tp, last + 1, offset)`
    takes the end as included); once that record is acknowledged its offset is in faust's list twice, and
    `consecutive_numbers` ended the run of done offsets there. Each commit then got one jump further per
    partition: with most records dropped as fetched (streams.worker.prefilter), commits ran seconds behind
    the records applied (docs/BENCHMARKS.md, "Commits held back at every jump"). A repeat is done twice over:
    it continues the run; faust removes the run's entries from its list, repeats included.
    """
    run: list[int] = []
    for offset in it:
        if run and offset > run[-1] + 1:
            yield run
            run = []
        run.append(offset)
    if run:
        yield run


def apply() -> None:
    """Consumers built from now on keep their gaps here (faust builds `defaultdict(IntervalTree)`), and
    read the offsets they may commit with `offset_runs`."""
    faust.transport.consumer.IntervalTree = OffsetGaps
    faust.transport.consumer.consecutive_numbers = offset_runs
