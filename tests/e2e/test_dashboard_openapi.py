"""schemathesis, driven by the served /openapi.json, finds no server error or contract breach."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.web.tokens import hash_token
from tests.e2e.dashboard_support import (
    alert_event,
    create_dashboard_topics,
    produce_alerts,
    running_dashboard,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.mark.asyncio
async def test_schemathesis_finds_no_failure(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    if not SCHEMATHESIS.exists():
        pytest.fail(f"schemathesis is not installed in the venv ({SCHEMATHESIS}); pip install schemathesis")
    alerts_topic, acks_topic = await create_dashboard_topics(kafka_bootstrap, unique_name)
    await produce_alerts(
        kafka_bootstrap,
        alerts_topic,
        [
            alert_event("kmg-open", severity="critical", k=2.4),
            alert_event("kmg-closed"),
            alert_event("kmg-closed", 2, "resolved"),
        ],
    )
    token = "schemathesis-token"
    # A named machine token: its acks carry its name, so a body without `by` is valid too.
    named = {"schemathesis": hash_token(token)}
    async with running_dashboard(kafka_bootstrap, alerts_topic, acks_topic, named_tokens=named) as (_, url):
        # The CLI runs as a child process while this event loop keeps serving its requests.
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            # An endless event stream cannot be fuzzed request/response; the SSE tests cover it.
            "--exclude-path",
            "/api/alerts/stream",
            "--max-examples",
            "25",
            "--seed",
            "2026",
            "--request-timeout",
            "10",
            "--no-color",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report
    assert "No issues found" in report, report
