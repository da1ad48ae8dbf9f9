"""One log line per cause per interval for the client libraries' repeated warnings and errors, with a count.

During a broker outage aiokafka and faust log every metadata retry and failed fetch: thousands of identical
ERROR lines a second that bury everything else. The first line of a cause (logger, level and message
template) passes; repeats within the interval are counted, and the next line after it says how many.
"""

from __future__ import annotations

import logging
from typing import Final

#: Loggers of the libraries whose retries repeat; lytewatch's own lines are never summarised.
SUMMARISED_LOGGERS: Final = ("aiokafka", "kafka", "faust", "mode")
REPEAT_INTERVAL_S: Final = 30.0


class SummariseRepeats(logging.Filter):
    """Let the first record of a cause through per interval; the next one carries the count of those held."""

    def __init__(self, interval_s: float = REPEAT_INTERVAL_S, loggers: tuple[str, ...] = SUMMARISED_LOGGERS):
        super().__init__()
        self.interval_s = interval_s
        self.loggers = loggers
        # (logger, level, template) -> [start of the current interval, records held back in it]
        self._causes: dict[tuple[str, int, str], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not _within(record.name, self.loggers):
            return True
        key = (record.name, record.levelno, str(record.msg))
        cause = self._causes.get(key)
        if cause is not None and record.created - cause[0] < self.interval_s:
            cause[1] += 1
            return False
        held = int(cause[1]) if cause is not None else 0
        self._causes[key] = [record.created, 0]
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {self.interval_s:.0f} s]"
        return True


def _within(name: str, loggers: tuple[str, ...]) -> bool:
    return any(name == each or name.startswith(each + ".") for each in loggers)
