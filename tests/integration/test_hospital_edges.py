"""Done means: worker + mllp + `mllp_send` of docs/examples -> an alert -> an order-sign warning card."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.support.edges import (
    EXAMPLES,
    MLLP_SEND,
    assert_cds_response,
    example_messages,
    hook_request,
    medication_request,
    post_json,
)
from tests.support.kafka import consume
from tests.support.ports import free_port
from tests.support.processes import Process, WorkerEnv, running_worker, wait_until_ready
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PATIENT = "MRN-EDGE-1"


def test_mllp_examples_raise_an_alert_and_order_sign_for_furosemide_warns(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    mllp_port, mllp_web = free_port(), free_port()
    env = make_worker_env(
        LYTEWATCH_MLLP_PORT=str(mllp_port),
        LYTEWATCH_MLLP_WEB_PORT=str(mllp_web),
        LYTEWATCH_CDS_ALLOW_UNAUTHENTICATED="true",
    )
    with running_worker(env, tmp_path / "worker.log") as worker:
        listener = Process(["mllp"], env.environ(), tmp_path / "mllp.log")
        try:
            wait_until_ready(listener, f"http://127.0.0.1:{mllp_web}")
            sent = subprocess.run(
                [
                    str(MLLP_SEND),
                    "--loose",
                    "-f",
                    str(EXAMPLES / "ward-4w.hl7"),
                    "-p",
                    str(mllp_port),
                    "127.0.0.1",
                ],
                capture_output=True,
                timeout=120,
                check=True,
            )
        finally:
            listener.stop()
        acks = [line for line in sent.stdout.split(b"\r") if line.startswith(b"MSA|")]
        print("mllp_send ACKs:", [a.decode() for a in acks])
        assert [a.split(b"|")[1] for a in acks] == [b"AA"] * 4, sent.stdout

        # Each message on its topic, byte for byte as sent, keyed by PID-3.
        expected = example_messages()
        on_topics = {
            kind: asyncio.run(consume(env.bootstrap, env.topics[kind], expected=n, timeout=60))
            for kind, n in (("adt", 2), ("orders", 1), ("labs", 1))
        }
        stored = [r.value for records in on_topics.values() for r in records]
        assert sorted(stored) == sorted(expected)
        assert {r.key for records in on_topics.values() for r in records} == {PATIENT.encode()}

        alerts = asyncio.run(consume(env.bootstrap, env.topics["alerts"], expected=1, timeout=90))
        fired = [orjson.loads(r.value) for r in alerts]
        print("alert:", fired[0]["rule"], fired[0]["severity"], fired[0]["summary"])
        assert [(a["rule"], a["event"], a["patient_id"]) for a in fired] == [
            ("KMG_COMBINED", "fired", PATIENT)
        ]

        # The engine publishes the alert, then stores the state: poll until the read path has it.
        request = hook_request(
            "order-sign", PATIENT, medication_request(PATIENT, code="4603", display="Furosemide")
        )
        def cards_given() -> list[dict[str, object]]:
            status, body = post_json(f"{env.url}/cds-services/lytewatch-order-sign", request)
            assert status == 200, body
            return assert_cds_response(body)

        cards = eventually(cards_given, "an order-sign card", within=60, interval=0.5, alive=worker.death)
        assert worker.popen.poll() is None
    print("order-sign card:", json.dumps(cards, indent=1))
    (card,) = cards
    assert card["indicator"] == "warning"
    assert str(card["summary"]).startswith("K 3.1 mmol/L and Mg 0.53 mmol/L low")
    assert "2026-03-01 09:00" in str(card["detail"])
    assert "replete magnesium" in str(card["detail"])
    assert card["overrideReasons"]
