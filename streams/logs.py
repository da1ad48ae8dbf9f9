"""Logging set-up (text or JSON lines) that keeps patient identifiers out of INFO+ records."""

from __future__ import annotations

import logging
import logging.config
import time
from typing import Any, Final, Literal

from pythonjsonlogger.json import JsonFormatter

from streams.logrepeat import SummariseRepeats

LogFormat = Literal["text", "json"]

#: Record attributes (passed through `extra=`) that identify a person or a visit.
IDENTIFYING_FIELDS: Final = frozenset(
    {"patient_id", "encounter_id", "mrn", "subject", "key", "message_key", "acknowledged_by", "by"}
)
REDACTED: Final = "[redacted]"

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS: Final = ("asctime", "levelname", "name", "message")

#: Third-party loggers that are chatty at INFO (every partition assignment, every fetch).
QUIET_LOGGERS: Final = ("aiokafka", "kafka", "faust.transport", "mode.timers")


class RedactIdentifiers(logging.Filter):
    """Replace identifying `extra=` fields of INFO+ records; DEBUG keeps them for local diagnosis."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            for name in IDENTIFYING_FIELDS.intersection(record.__dict__):
                setattr(record, name, REDACTED)
        return True


def _utc_iso(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class UtcFormatter(logging.Formatter):
    """Text formatter with ISO 8601 UTC timestamps, so logs of hosts in any zone line up."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_iso(record)


class UtcJsonFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message and every `extra=` field."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_iso(record)


def logging_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict; also what faust's Worker takes as `logging_config`."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")
    level = level.upper()
    if fmt == "json":
        formatter: dict[str, Any] = {
            "()": UtcJsonFormatter,
            "fmt": list(JSON_FIELDS),
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"()": UtcFormatter, "format": TEXT_FORMAT}
    # At DEBUG the operator asked for everything; at INFO the client libraries would drown our lines.
    quiet = "WARNING" if level == "INFO" else level
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactIdentifiers}, "repeats": {"()": SummariseRepeats}},
        "formatters": {"lytewatch": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "lytewatch",
                "filters": ["repeats", "redact"],
            }
        },
        "loggers": {name: {"level": quiet} for name in QUIET_LOGGERS},
        "root": {"level": level, "handlers": ["stderr"]},
    }


def configure_logging(level: str, fmt: LogFormat) -> None:
    """Send every log record to stderr as text or JSON lines, at `level` and above."""
    logging.config.dictConfig(logging_config(level, fmt))


def message_ref(topic: str, partition: int, offset: int) -> str:
    """How logs name a Kafka message: `topic[partition]@offset`, never by its key (the patient id)."""
    return f"{topic}[{partition}]@{offset}"
