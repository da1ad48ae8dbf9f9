"""Log lines as an operator reads them: format, level, message naming, and no patient id at INFO+."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator

import pytest

from streams.logs import REDACTED, configure_logging, logging_config, message_ref

Emit = Callable[[str, str], list[str]]


@pytest.fixture
def emit_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Emit]:
    """Configure logging, then return the stderr lines the test's records produced."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level

    def run(level: str, fmt: str) -> list[str]:
        configure_logging(level, fmt)  # type: ignore[arg-type]
        log = logging.getLogger("lytewatch.test")
        ref = message_ref("labs.results", 3, 1042)
        log.debug("decoded %s", ref, extra={"patient_id": "MRN0042"})
        log.info("dead-lettered %s", ref, extra={"patient_id": "MRN0042", "reason": "unknown_unit"})
        log.warning("slow commit on %s", ref, extra={"encounter_id": "E0042"})
        logging.getLogger("aiokafka").info("fetching partition 3")
        return [line for line in capsys.readouterr().err.splitlines() if line]

    yield run
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def test_message_ref_names_topic_partition_and_offset() -> None:
    assert message_ref("labs.results", 3, 1042) == "labs.results[3]@1042"


def test_json_lines_carry_time_level_logger_message_and_extras(emit_logs: Emit) -> None:
    lines = [json.loads(line) for line in emit_logs("INFO", "json")]

    assert [r["message"] for r in lines] == [
        "dead-lettered labs.results[3]@1042",
        "slow commit on labs.results[3]@1042",
    ]
    first = lines[0]
    assert first["level"] == "INFO"
    assert first["logger"] == "lytewatch.test"
    assert first["reason"] == "unknown_unit"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])


def test_identifiers_are_redacted_at_info_and_above(emit_logs: Emit) -> None:
    for fmt in ("json", "text"):
        output = "\n".join(emit_logs("INFO", fmt))
        assert "MRN0042" not in output
        assert "E0042" not in output
    lines = [json.loads(line) for line in emit_logs("INFO", "json")]
    assert lines[0]["patient_id"] == REDACTED
    assert lines[1]["encounter_id"] == REDACTED


def test_debug_keeps_identifiers_for_local_diagnosis(emit_logs: Emit) -> None:
    lines = [json.loads(line) for line in emit_logs("DEBUG", "json")]
    debug = [r for r in lines if r["level"] == "DEBUG" and r["logger"] == "lytewatch.test"]

    assert debug[0]["patient_id"] == "MRN0042"


def test_text_lines_start_with_utc_time_and_level(emit_logs: Emit) -> None:
    lines = emit_logs("WARNING", "text")

    assert len(lines) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING lytewatch\.test "
        r"slow commit on labs\.results\[3\]@1042",
        lines[0],
    )


def test_client_library_chatter_is_quiet_at_info(emit_logs: Emit) -> None:
    assert not [line for line in emit_logs("INFO", "text") if "aiokafka" in line]


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        logging_config("INFO", "xml")  # type: ignore[arg-type]
