"""`lytewatch mllp`: HL7 v2 over MLLP onto the input topics; ACK AA only once the broker has the message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from hl7.mllp import HL7StreamWriter
from hl7.mllp.streams import HL7StreamProtocol
from prometheus_client.aiohttp import make_aiohttp_handler

from streams.broker_access import check_broker_access
from streams.edges.hl7_ack import MESSAGE_TYPE_LABELS, AckCode, ErrorCode, Rejected, build_ack, route
from streams.edges.mllp_frames import FrameReader, FrameTooLarge
from streams.http_headers import harden
from streams.kafka import client_options
from streams.metrics import Metrics
from streams.settings import Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

_RECONNECT_S = 2.0


class Listener:
    """Accepts MLLP connections and stores each message on Kafka before acknowledging it."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.metrics.prime_mllp(MESSAGE_TYPE_LABELS)
        self.topics = {kind: name for kind, name in settings.input_topics.items() if kind != "acks"}
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._last_write_failed = False

    @property
    def broker_ready(self) -> bool:
        """Connected, and the last write (if any) was confirmed; a failed write: False until one is."""
        return self.connected and not self._last_write_failed

    @property
    def connected(self) -> bool:
        return self._producer is not None

    # --- broker -------------------------------------------------------------------------------------

    def _new_producer(self) -> AIOKafkaProducer:
        s = self.settings
        # No idempotence on purpose: an idempotent producer retries a batch forever, so a message answered
        # AE could still land later and then again when the sender retries. Without it a batch that the
        # broker has not confirmed within the timeout fails for good and is never sent again.
        return AIOKafkaProducer(
            **client_options(s),
            acks="all",
            enable_idempotence=False,
            request_timeout_ms=int(s.mllp_write_timeout_s * 1000),
            max_request_size=s.mllp_max_message_bytes + 65536,
            linger_ms=0,
        )

    async def _connect(self) -> None:
        """Start the producer, retrying while the broker is down; until then every message gets AE."""
        announced = False
        while True:
            producer = self._new_producer()
            try:
                # Topics first: a producer to a missing topic only times out, after flooding the log.
                await ensure_topics(self.settings)
                await producer.start()
            except (KafkaError, OSError) as exc:
                await producer.stop()
                if not announced:
                    log.warning(
                        "broker %s not reachable (%s); answering AE until it is",
                        self.settings.bootstrap_servers,
                        type(exc).__name__,
                    )
                    announced = True
                await asyncio.sleep(_RECONNECT_S)
                continue
            self._producer = producer
            log.info("broker %s reachable; accepting messages", self.settings.bootstrap_servers)
            return

    async def store(self, topic: str, key: bytes, value: bytes) -> str | None:
        """Write one message and wait for the broker's confirmation; None when stored, else why not."""
        producer = self._producer
        if producer is None:
            return "the message broker is not reachable"
        started = time.monotonic()
        try:
            # The producer's own timeout (request_timeout_ms) ends the wait; the outer one is a safety net.
            delivery = await producer.send(topic, value=value, key=key)
            await asyncio.wait_for(delivery, timeout=self.settings.mllp_write_timeout_s * 2 + 5)
        except (KafkaError, TimeoutError, OSError) as exc:
            self._last_write_failed = True
            return f"the message broker did not confirm the write ({type(exc).__name__})"
        self._last_write_failed = False
        self.metrics.observe_mllp_write(time.monotonic() - started)
        return None

    # --- messages -----------------------------------------------------------------------------------

    async def handle(self, raw: bytes) -> bytes:
        """The ACK for one received message, after storing it if it is one we take."""
        self.metrics.count_mllp_bytes(len(raw))
        decision = route(raw)
        if isinstance(decision, Rejected):
            self.metrics.count_mllp_message(decision.label, AckCode.REJECT)
            log.warning("MLLP message rejected (AR %s): %s", decision.code.value, decision.text)
            return build_ack(raw, AckCode.REJECT, (decision.code, decision.text))
        problem = await self.store(self.topics[decision.kind], decision.key, raw)
        if problem is not None:
            self.metrics.count_mllp_message(decision.label, AckCode.ERROR)
            log.warning("MLLP %s not stored (AE): %s", decision.label, problem)
            return build_ack(raw, AckCode.ERROR, (ErrorCode.INTERNAL, problem + "; please resend"))
        self.metrics.count_mllp_message(decision.label, AckCode.ACCEPT)
        return build_ack(raw, AckCode.ACCEPT)

    def _reject(self, raw: bytes, text: str) -> bytes:
        """AR for a frame refused for its framing (no end block, too large), counted under its MSH-9."""
        self.metrics.count_mllp_message(route(raw).label, AckCode.REJECT)
        log.warning("MLLP frame rejected (AR): %s", text)
        return build_ack(raw, AckCode.REJECT, (ErrorCode.DATA_TYPE, text))

    async def serve_connection(self, reader: FrameReader, writer: HL7StreamWriter) -> None:
        """One sender: read a frame, answer it, in order, until the sender closes."""
        self.metrics.mllp_connection(opened=True)
        try:
            while True:
                try:
                    frame = await reader.readframe()
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        self.metrics.count_mllp_frame_error("unterminated")
                        log.warning(
                            "MLLP sender closed in the middle of a message (%d bytes, no end block); "
                            "nothing stored",
                            len(exc.partial),
                        )
                    return
                except FrameTooLarge as exc:
                    self.metrics.count_mllp_frame_error("too_large")
                    limit = self.settings.mllp_max_message_bytes
                    writer.writeblock(self._reject(exc.head, f"message over the {limit}-byte limit"))
                    await writer.drain()
                    continue
                if frame.skipped:
                    self.metrics.count_mllp_frame_error("garbage")
                    log.warning("MLLP: %d bytes outside any frame skipped", frame.skipped)
                for broken in frame.unterminated:
                    self.metrics.count_mllp_frame_error("unterminated")
                    writer.writeblock(self._reject(broken, "message without an end block; not stored"))
                try:
                    ack = await self.handle(frame.message)
                except Exception as exc:  # a bug must not leave the sender without an answer
                    # Not log.exception: its text may quote the message (patient data); details at DEBUG.
                    log.error("MLLP handling failed (%s); answered AE", type(exc).__name__)  # noqa: TRY400
                    log.debug("MLLP failure detail", exc_info=exc)
                    ack = build_ack(
                        frame.message, AckCode.ERROR, (ErrorCode.INTERNAL, "internal error; resend")
                    )
                writer.writeblock(ack)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            # A sender gone before its ACK: what it sent was stored (or not) all the same; it will resend.
            log.info("MLLP sender disconnected (%s)", type(exc).__name__)
        finally:
            self.metrics.mllp_connection(opened=False)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    # --- server -------------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        self._connector = asyncio.create_task(self._connect())
        loop = asyncio.get_running_loop()
        limit = s.mllp_max_message_bytes

        def factory() -> HL7StreamProtocol:
            reader = FrameReader(limit=limit, loop=loop)
            return HL7StreamProtocol(reader, self.serve_connection, loop=loop)

        # hl7.mllp.start_hl7_server builds plain HL7StreamReaders; ours adds readframe, hence our factory.
        self._server = await loop.create_server(factory, s.mllp_host, s.mllp_port, ssl=tls_context(s))
        log.info("MLLP listening on %s:%d%s", s.mllp_host, s.mllp_port, " (TLS)" if s.mllp_tls_cert else "")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            await self._producer.stop()


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.mllp_tls_cert is None or settings.mllp_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.mllp_tls_cert), str(settings.mllp_tls_key))
    return context


def web_app(listener: Listener) -> web.Application:
    """/metrics, /healthz and /readyz of the listener."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        ready = listener.broker_ready
        detail = (
            "storing"
            if ready
            else "last write not confirmed"
            if listener.connected
            else "broker not reachable"
        )
        body: dict[str, Any] = {
            "status": "ready" if ready else "not ready",
            "checks": {"broker": {"ok": ready, "detail": detail}},
        }
        return web.json_response(body, status=200 if ready else 503)

    app = web.Application()
    harden(app)
    app.router.add_get("/metrics", make_aiohttp_handler(listener.metrics.registry))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def _start_web(listener: Listener, settings: Settings) -> web.AppRunner:
    runner = web.AppRunner(web_app(listener), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.mllp_host, settings.mllp_web_port).start()
    return runner


async def run_mllp(settings: Settings) -> None:
    """The `lytewatch mllp` process: listen until cancelled."""
    await check_broker_access(settings)  # wrong TLS/SASL settings: BrokerAccessError now, not retries
    listener = Listener(settings)
    await listener.start()
    runner = await _start_web(listener, settings)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await listener.stop()
