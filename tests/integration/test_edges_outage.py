"""Both edges with the broker down (one private broker): MLLP answers AE and CDS feedback 503, promptly;
once the broker is back the retried message and feedback are stored, each exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.edges.mllp import Listener
from streams.settings import load_settings
from tests.integration.test_broker_outage import Broker, private_broker  # noqa: F401 - the fixture
from tests.support.edges import EB_CR, frame, post_json
from tests.support.kafka import consume
from tests.support.ports import free_port
from tests.support.processes import WorkerEnv, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEEDBACK = {
    "feedback": [
        {"card": "7d7609fe-c4d9-59f1-a163-aea774b4b492", "outcome": "accepted",
         "outcomeTimestamp": "2026-03-02T10:30:00Z"}
    ]
}  # fmt: skip


def oru(control_id: str) -> bytes:
    return (
        f"MSH|^~\\&|LAB|HOSP|LYTEWATCH|HOSP|20260301094500||ORU^R01|{control_id}|P|2.5.1\r"
        "PID|1||MRN-OUTAGE^^^HOSP^MR\rOBR|1|P1|F1|x|||202603010900\r"
        "OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L|||||F\r"
    ).encode()


async def send(port: int, message: bytes) -> str:
    """MSA-1 of the ACK of one message sent on a new connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(frame(message))
        await writer.drain()
        ack = await asyncio.wait_for(reader.readuntil(EB_CR), 60)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    msa = next(s for s in ack.split(b"\r") if s.startswith(b"MSA|"))
    return msa.split(b"|")[1].decode()


def test_broker_down_gives_ae_and_503_and_back_stores_each_retry_once(
    private_broker: Broker,  # noqa: F811
    make_worker_env: Callable[..., WorkerEnv],
    tmp_path: Path,
) -> None:
    private_broker.run("start")
    env = make_worker_env(LYTEWATCH_CDS_ALLOW_UNAUTHENTICATED="true")
    env.bootstrap = private_broker.bootstrap
    feedback_url = f"{env.url}/cds-services/lytewatch-order-sign/feedback"
    settings = load_settings(
        {**env.environ(), "LYTEWATCH_MLLP_PORT": str(free_port()), "LYTEWATCH_MLLP_WRITE_TIMEOUT_S": "3"}
    )

    async def scenario() -> tuple[list[str], list[int]]:
        listener = Listener(settings)
        await listener.start()
        try:
            for _ in range(300):
                if listener.broker_ready:
                    break
                await asyncio.sleep(0.2)
            codes = [await send(settings.mllp_port, oru("BEFORE-1"))]
            statuses = [post_json(feedback_url, FEEDBACK)[0]]
            await asyncio.to_thread(private_broker.run, "stop")
            codes.append(await send(settings.mllp_port, oru("DURING-1")))
            started = time.monotonic()
            status, body = await asyncio.to_thread(post_json, feedback_url, FEEDBACK)
            waited = time.monotonic() - started
            print(f"feedback with the broker down: HTTP {status} {body} after {waited:.1f} s")
            assert body == {"error": "feedback could not be stored; retry"}
            assert waited < 14, "an EHR would have given up long before"
            statuses.append(status)
            await asyncio.to_thread(private_broker.run, "start")
            # Senders retry what was refused until it is accepted, as interface engines and EHRs do.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and codes[-1] != "AA":
                await asyncio.sleep(1)
                codes.append(await send(settings.mllp_port, oru("DURING-1")))
            while time.monotonic() < deadline and statuses[-1] != 200:
                await asyncio.sleep(1)
                statuses.append((await asyncio.to_thread(post_json, feedback_url, FEEDBACK))[0])
            return codes, statuses
        finally:
            await listener.stop()

    with running_worker(env, tmp_path / "worker.log") as worker:
        codes, statuses = asyncio.run(scenario())
        assert worker.popen.poll() is None
    print("ACK codes:", codes, "feedback statuses:", statuses)
    assert codes[:2] == ["AA", "AE"] and codes[-1] == "AA" and set(codes[2:-1]) <= {"AE"}
    assert statuses[:2] == [200, 503] and statuses[-1] == 200 and set(statuses[2:-1]) <= {503}
    stored = asyncio.run(consume(private_broker.bootstrap, settings.topic_labs, expected=3, timeout=20))
    assert [r.value for r in stored] == [oru("BEFORE-1"), oru("DURING-1")]
    feedback = asyncio.run(
        consume(private_broker.bootstrap, env.topics["cds_feedback"], expected=3, timeout=20)
    )
    assert len(feedback) == 2  # the one before the outage and the accepted retry: the 503 one was not stored
