"""MLLP with the broker down: AE (nothing half-written), then AA once it is back; each message stored once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from streams.edges.mllp import Listener
from streams.settings import load_settings
from tests.integration.test_broker_outage import Broker, private_broker  # noqa: F401 - the fixture
from tests.support.edges import EB_CR, frame
from tests.support.kafka import consume
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


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


def test_broker_down_gives_ae_and_back_gives_aa_with_each_message_stored_once(
    private_broker: Broker,  # noqa: F811
    tmp_path: Path,
) -> None:
    private_broker.run("start")
    settings = load_settings(
        {
            "LYTEWATCH_BROKER": f"kafka://{private_broker.bootstrap}",
            "LYTEWATCH_PARTITIONS": "1",
            "LYTEWATCH_MLLP_PORT": str(free_port()),
            "LYTEWATCH_MLLP_WRITE_TIMEOUT_S": "3",
        }
    )

    async def scenario() -> list[str]:
        listener = Listener(settings)
        await listener.start()
        try:
            for _ in range(300):
                if listener.broker_ready:
                    break
                await asyncio.sleep(0.2)
            codes = [await send(settings.mllp_port, oru("BEFORE-1"))]
            await asyncio.to_thread(private_broker.run, "stop")
            codes.append(await send(settings.mllp_port, oru("DURING-1")))
            await asyncio.to_thread(private_broker.run, "start")
            # The sender retries the refused message until it is accepted, as interface engines do.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                codes.append(await send(settings.mllp_port, oru("DURING-1")))
                if codes[-1] == "AA":
                    break
                await asyncio.sleep(1)
            return codes
        finally:
            await listener.stop()

    codes = asyncio.run(scenario())
    print("ACK codes:", codes)
    assert codes[:2] == ["AA", "AE"]
    assert codes[-1] == "AA" and set(codes[2:-1]) <= {"AE"}
    stored = asyncio.run(consume(private_broker.bootstrap, settings.topic_labs, expected=3, timeout=20))
    assert [r.value for r in stored] == [oru("BEFORE-1"), oru("DURING-1")]
