"""The MLLP listener on the real broker: raw-socket edge cases, rejects, concurrency, TLS, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streams.edges.mllp import Listener
from streams.settings import Settings, load_settings
from tests.support.edges import EB_CR, SB, example_messages, frame
from tests.support.kafka import consume
from tests.support.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

MAX_BYTES = 4096


def oru(control_id: str, patient: str = "MRN-MLLP-1") -> bytes:
    return (
        f"MSH|^~\\&|LAB|HOSP|LYTEWATCH|HOSP|20260301094500||ORU^R01^ORU_R01|{control_id}|P|2.5.1\r"
        f"PID|1||{patient}^^^HOSP^MR||DOE^JANE\r"
        "OBR|1|P1|F1|80048^BMP^CPT|||202603010900\r"
        "OBX|1|NM|2823-3^Potassium^LN||3.1|mmol/L|||||F\r"
    ).encode()


@dataclass
class Edge:
    listener: Listener
    settings: Settings

    @property
    def port(self) -> int:
        return self.settings.mllp_port

    async def stored(self, kind: str, expected: int, within: float = 30.0) -> list[tuple[bytes, bytes]]:
        topic = self.settings.input_topics[kind]
        records = await consume(self.settings.bootstrap_servers, topic, expected=expected, timeout=within)
        return [(r.key, r.value) for r in records]


@pytest_asyncio.fixture
async def make_edge(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> AsyncIterator[Callable[..., object]]:
    started: list[Listener] = []

    async def make(**extra: str) -> Edge:
        prefix = unique_name(f"mllp{len(started)}")
        env = {
            "LYTEWATCH_BROKER": f"kafka://{kafka_bootstrap}",
            "LYTEWATCH_PARTITIONS": "2",
            "LYTEWATCH_MLLP_PORT": str(free_port()),
            "LYTEWATCH_MLLP_MAX_MESSAGE_BYTES": str(MAX_BYTES),
            **{f"LYTEWATCH_TOPIC_{k.upper()}": f"{prefix}.{k}" for k in ("labs", "orders", "adt", "acks")},
            **extra,
        }
        settings = load_settings(env)
        listener = Listener(settings)
        await listener.start()
        started.append(listener)
        for _ in range(300):
            if listener.broker_ready:
                break
            await asyncio.sleep(0.1)
        assert listener.broker_ready, "the listener never reached the broker"
        return Edge(listener, settings)

    yield make
    for listener in started:
        await listener.stop()


async def read_acks(reader: asyncio.StreamReader, n: int, within: float = 30.0) -> list[bytes]:
    acks = []
    for _ in range(n):
        data = await asyncio.wait_for(reader.readuntil(EB_CR), within)
        assert data.startswith(SB), data
        acks.append(data[1:-2])
    return acks


async def exchange(port: int, *chunks: bytes, acks: int, pause: float = 0.0) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
        return await read_acks(reader, acks)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def msa(ack: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-2) of an ACK."""
    segment = next(s for s in ack.split(b"\r") if s.startswith(b"MSA|"))
    fields = segment.decode().split("|")
    return fields[1], fields[2]


async def test_examples_are_acknowledged_aa_and_stored_unchanged_on_their_topics(make_edge: Callable) -> None:
    edge: Edge = await make_edge()
    messages = example_messages()
    acks = await exchange(edge.port, *[frame(m) for m in messages], acks=len(messages))
    assert [msa(a) for a in acks] == [
        ("AA", "ADT0001"),
        ("AA", "RDE0001"),
        ("AA", "LAB0001"),
        ("AA", "ADT0002"),
    ]
    assert await edge.stored("labs", 1) == [(b"MRN-EDGE-1", messages[2])]
    assert await edge.stored("orders", 1) == [(b"MRN-EDGE-1", messages[1])]
    assert sorted(await edge.stored("adt", 2)) == sorted(
        [(b"MRN-EDGE-1", messages[0]), (b"MRN-EDGE-1", messages[3])]
    )


async def test_two_messages_in_one_packet_and_one_split_over_many(make_edge: Callable) -> None:
    edge: Edge = await make_edge()
    both = frame(oru("TWO-1")) + frame(oru("TWO-2"))
    assert [msa(a) for a in await exchange(edge.port, both, acks=2)] == [("AA", "TWO-1"), ("AA", "TWO-2")]
    split = frame(oru("SPLIT-1"))
    pieces = [split[i : i + 7] for i in range(0, len(split), 7)]
    assert [msa(a) for a in await exchange(edge.port, *pieces, acks=1, pause=0.01)] == [("AA", "SPLIT-1")]
    stored = await edge.stored("labs", 3)
    assert [value for _, value in stored] == [oru("TWO-1"), oru("TWO-2"), oru("SPLIT-1")]


async def test_a_message_without_end_block_is_rejected_and_the_next_one_stored(make_edge: Callable) -> None:
    edge: Edge = await make_edge()
    acks = await exchange(edge.port, SB + oru("LOST-1") + frame(oru("NEXT-1")), acks=2)
    assert [msa(a) for a in acks] == [("AR", "LOST-1"), ("AA", "NEXT-1")]
    assert b"without an end block" in acks[0]
    assert [v for _, v in await edge.stored("labs", 2, within=8)] == [oru("NEXT-1")]


async def test_a_message_over_the_size_limit_is_rejected_and_the_connection_goes_on(
    make_edge: Callable,
) -> None:
    edge: Edge = await make_edge()
    big = oru("BIG-1") + b"NTE|1||" + b"x" * (2 * MAX_BYTES) + b"\r"
    acks = await exchange(edge.port, frame(big), frame(oru("SMALL-1")), acks=2)
    assert [msa(a) for a in acks] == [("AR", "BIG-1"), ("AA", "SMALL-1")]
    assert f"over the {MAX_BYTES}-byte limit".encode() in acks[0]
    assert [v for _, v in await edge.stored("labs", 2, within=8)] == [oru("SMALL-1")]
    metrics = edge.listener.metrics.render().decode()
    assert 'lytewatch_mllp_messages_total{ack_code="AR",message_type="ORU^R01"} 1.0' in metrics
    assert 'lytewatch_mllp_frame_errors_total{kind="too_large"} 1.0' in metrics


async def test_garbage_between_frames_is_skipped(make_edge: Callable) -> None:
    edge: Edge = await make_edge()
    acks = await exchange(
        edge.port, b"\r\n\x00junk" + frame(oru("G-1")) + b"more junk" + frame(oru("G-2")), acks=2
    )
    assert [msa(a) for a in acks] == [("AA", "G-1"), ("AA", "G-2")]
    assert len(await edge.stored("labs", 2)) == 2
    metrics = edge.listener.metrics.render().decode()
    assert 'lytewatch_mllp_frame_errors_total{kind="garbage"} 2.0' in metrics


async def test_not_hl7_and_types_we_do_not_take_get_ar_with_err_and_are_not_stored(
    make_edge: Callable,
) -> None:
    edge: Edge = await make_edge()
    siu = oru("SIU-1").replace(b"ORU^R01^ORU_R01", b"SIU^S12^SIU_S12")
    a04 = oru("A04-1").replace(b"ORU^R01^ORU_R01", b"ADT^A04^ADT_A01")
    acks = await exchange(
        edge.port, frame(b'{"not": "hl7"}'), frame(siu), frame(a04), frame(oru("OK-1")), acks=4
    )
    assert [msa(a)[0] for a in acks] == ["AR", "AR", "AR", "AA"]
    assert [a.split(b"\rERR|||")[1][:3] for a in acks[:3]] == [b"100", b"200", b"201"]
    assert [v for _, v in await edge.stored("labs", 2, within=8)] == [oru("OK-1")]
    assert await edge.stored("adt", 1, within=3) == []
    metrics = edge.listener.metrics.render().decode()
    assert 'lytewatch_mllp_messages_total{ack_code="AR",message_type="not_hl7"} 1.0' in metrics
    assert 'lytewatch_mllp_messages_total{ack_code="AR",message_type="other"} 2.0' in metrics
    assert 'lytewatch_mllp_messages_total{ack_code="AA",message_type="ORU^R01"} 1.0' in metrics


async def test_a_sender_gone_before_its_ack_loses_nothing_and_the_listener_goes_on(
    make_edge: Callable,
) -> None:
    edge: Edge = await make_edge()
    _, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(frame(oru("GONE-1")))
    await writer.drain()
    writer.transport.abort()  # RST: no ACK read
    writer.close()
    assert [msa(a) for a in await exchange(edge.port, frame(oru("AFTER-1")), acks=1)] == [("AA", "AFTER-1")]
    assert sorted(v for _, v in await edge.stored("labs", 2)) == sorted([oru("GONE-1"), oru("AFTER-1")])


async def test_fifty_concurrent_senders_are_all_acknowledged_and_stored(make_edge: Callable) -> None:
    edge: Edge = await make_edge()

    async def sender(i: int) -> list[tuple[str, str]]:
        msgs = [frame(oru(f"C{i}-{j}", patient=f"MRN-C{i}")) for j in range(4)]
        return [msa(a) for a in await exchange(edge.port, *msgs, acks=4)]

    results = await asyncio.gather(*(sender(i) for i in range(50)))
    assert all(r == [("AA", f"C{i}-{j}") for j in range(4)] for i, r in enumerate(results))
    stored = await edge.stored("labs", 200, within=60)
    assert len(stored) == 200
    assert {key for key, _ in stored} == {f"MRN-C{i}".encode() for i in range(50)}
    metrics = edge.listener.metrics.render().decode()
    assert "lytewatch_mllp_connections_total 50.0" in metrics
    assert "lytewatch_mllp_write_latency_seconds_count 200.0" in metrics


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "mllp.pem", tmp_path / "mllp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_when_a_cert_and_key_are_set(make_edge: Callable, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    edge: Edge = await make_edge(LYTEWATCH_MLLP_TLS_CERT=str(cert), LYTEWATCH_MLLP_TLS_KEY=str(key))
    client = ssl.create_default_context(cafile=str(cert))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", edge.port, ssl=client, server_hostname="localhost"
    )
    writer.write(frame(oru("TLS-1")))
    await writer.drain()
    assert [msa(a) for a in await read_acks(reader, 1)] == [("AA", "TLS-1")]
    writer.close()
    await writer.wait_closed()
    # A plain-text sender gets no ACK and stores nothing.
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError, TimeoutError)):
        await exchange(edge.port, frame(oru("PLAIN-1")), acks=1)
    assert [v for _, v in await edge.stored("labs", 2, within=8)] == [oru("TLS-1")]
