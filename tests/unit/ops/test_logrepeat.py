"""Repeated client-library errors are summarised: one line per cause per interval, the next with a count."""

from __future__ import annotations

import logging

from streams.logrepeat import SummariseRepeats


def record(name: str, msg: str, *args: object, at: float, level: int = logging.ERROR) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    made.created = at
    return made


def test_repeats_of_one_cause_are_held_back_and_counted_on_the_next_line_after_the_interval() -> None:
    summary = SummariseRepeats(interval_s=30)
    unable = "Unable connect to node with id %s: %s"
    passed = [
        r.getMessage()
        for r in (record("aiokafka", unable, 1, "[Errno 111]", at=t / 100) for t in range(0, 4000))
        if summary.filter(r)
    ]

    assert passed == [
        "Unable connect to node with id 1: [Errno 111]",
        "Unable connect to node with id 1: [Errno 111] [2999 more like this in the last 30 s]",
    ]


def test_causes_are_counted_apart_and_info_and_lytewatch_lines_always_pass() -> None:
    summary = SummariseRepeats(interval_s=30)

    assert summary.filter(record("aiokafka.conn", "a %s", 1, at=0.0))
    assert summary.filter(record("faust.transport.consumer", "b %s", 1, at=0.1))
    assert not summary.filter(record("aiokafka.conn", "a %s", 2, at=0.2))
    assert summary.filter(record("aiokafka.conn", "a %s", 1, at=0.3, level=logging.INFO))
    assert all(summary.filter(record("streams.worker.agents", "dead-lettered %s", n, at=n)) for n in range(5))
    assert summary.filter(record("aiokafkax", "not a client logger %s", 1, at=0.4))
