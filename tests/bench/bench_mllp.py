"""Benchmark (not a test): MLLP messages/s and ACK latency through a real listener to the local broker.

Run from the repository root with a broker up (`make kafka-up`):
    .venv/bin/python -m tests.bench.bench_mllp [--connections 20] [--messages 200] [--broker 127.0.0.1:9092]
Each connection sends its messages one at a time, waiting for each ACK (as interface engines do), so the
figure is bounded by the acks=all round trip; several connections overlap those round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

from streams.edges.mllp import Listener
from streams.kafka import admin_client
from streams.settings import load_settings
from tests.support.edges import EB_CR, frame
from tests.support.ports import free_port


def oru(control_id: str, patient: str) -> bytes:
    return (
        f"MSH|^~\\&|LAB|HOSP|LYTEWATCH|HOSP|20260301094500||ORU^R01^ORU_R01|{control_id}|P|2.5.1\r"
        f"PID|1||{patient}^^^HOSP^MR||DOE^JANE\rOBR|1|P1|F-{control_id}|80048^BMP^CPT|||202603010900\r"
        "OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L|||||F\rOBX|2|NM|2601-3^Magnesium^LN||0.62|mmol/L|||||F\r"
    ).encode()


async def sender(port: int, i: int, n: int, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    accepted = 0
    try:
        for j in range(n):
            started = time.perf_counter()
            writer.write(frame(oru(f"B{i}-{j}", f"MRN-B{i % 500}")))
            ack = await reader.readuntil(EB_CR)
            latencies.append(time.perf_counter() - started)
            accepted += b"MSA|AA|" in ack
    finally:
        writer.close()
        await writer.wait_closed()
    return accepted


async def main(broker: str, connections: int, messages: int) -> None:
    prefix = f"bench-mllp-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        {
            "LYTEWATCH_BROKER": f"kafka://{broker}",
            "LYTEWATCH_MLLP_PORT": str(free_port()),
            "LYTEWATCH_PARTITIONS": "6",
            **{f"LYTEWATCH_TOPIC_{k.upper()}": f"{prefix}.{k}" for k in ("labs", "orders", "adt", "acks")},
        }
    )
    listener = Listener(settings)
    await listener.start()
    try:
        for _ in range(600):
            if listener.broker_ready:
                break
            await asyncio.sleep(0.1)
        latencies: list[float] = []
        started = time.perf_counter()
        accepted = await asyncio.gather(
            *(sender(settings.mllp_port, i, messages, latencies) for i in range(connections))
        )
        elapsed = time.perf_counter() - started
    finally:
        await listener.stop()
        admin = admin_client(settings)
        await admin.start()
        try:
            await admin.delete_topics([f"{prefix}.{k}" for k in ("labs", "orders", "adt", "acks")])
        finally:
            await admin.close()
    total = connections * messages
    cuts = statistics.quantiles(latencies, n=100)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"messages: {total} over {connections} connections, AA: {sum(accepted)}")
    print(f"throughput: {total / elapsed:,.0f} messages/s ({elapsed:.1f} s)")
    print(f"ACK latency ms: p50 {cuts[49] * 1000:.1f}  p95 {cuts[94] * 1000:.1f}  p99 {cuts[98] * 1000:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="127.0.0.1:9092")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--messages", type=int, default=200, help="per connection")
    args = parser.parse_args()
    asyncio.run(main(args.broker, args.connections, args.messages))
