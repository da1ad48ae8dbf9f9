"""The dashboard process: rebuilds open alerts from the alerts topic, serves the page and API, sends acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from alerts.codes import load_code_mapping
from alerts.models import AlertEvent
from alerts.rulesfile import load_rules
from streams.broker_access import BrokerAccessError, check_broker_access
from streams.codecs import InputKind
from streams.kafka import client_options
from streams.settings import Settings, SettingsError, load_settings
from streams.web.access import Access
from streams.web.alert_book import AlertBook
from streams.web.api import AckUnavailableError, DashboardState, create_app
from streams.web.clinical_api import ClinicalViews
from streams.web.inputs import InputsHandler
from streams.web.topic_reader import TopicReader

log = logging.getLogger(__name__)


class _AccessLogger(AbstractAccessLogger):
    """Request log at DEBUG without the query string: the sign-in callback's carries the one-time code."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s -> %s in %.3fs", request.method, request.path, response.status, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


class AlertsReader:
    """Reads the whole alerts topic from the beginning, without a consumer group, into the book."""

    def __init__(self, settings: Settings, state: DashboardState, *, poll_ms: int = 500) -> None:
        self._settings = settings
        self._state = state
        self._reader = TopicReader(
            settings,
            [settings.topic_alerts],
            self._handle,
            on_caught_up=self._caught_up,
            on_failure=lambda: state.metrics.alert_events.labels("invalid").inc(),
            poll_ms=poll_ms,
        )

    async def run(self) -> None:
        await self._reader.run()

    def _caught_up(self) -> None:
        self._state.caught_up = True
        self._state.metrics.caught_up.set(1)
        log.info("alerts topic read to its end: %d open alerts", len(self._state.book))

    def _handle(self, record: ConsumerRecord) -> None:
        metrics = self._state.metrics
        if record.value is None:
            metrics.alert_events.labels("invalid").inc()
            return
        try:
            event = AlertEvent.model_validate_json(record.value)
        except ValidationError:
            metrics.alert_events.labels("invalid").inc()
            # Topic/partition/offset name the message; its content may hold a patient id.
            log.warning(
                "skipping undecodable alert event at %s/%d/%d", record.topic, record.partition, record.offset
            )
            return
        transition = self._state.book.apply(event)
        if transition is None:
            metrics.alert_events.labels("duplicate").inc()
            return
        metrics.alert_events.labels("applied").inc()
        self._state.apply(transition)


class AckProducer:
    """Produces acknowledgements to the acks topic; started on first use so a broker outage at boot is ok."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def send(self, key: bytes, value: bytes) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                producer = await self._started()
                await producer.send_and_wait(self._settings.topic_acks, value=value, key=key)
        except (KafkaError, TimeoutError) as exc:
            log.warning(
                "acknowledgement not produced to %s: %s", self._settings.topic_acks, type(exc).__name__
            )
            await self._discard()
            raise AckUnavailableError(str(exc)) from exc

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    acks="all",
                    enable_idempotence=True,
                    client_id="lytewatch-dashboard",
                    **client_options(self._settings),
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _discard(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(KafkaError):
                await producer.stop()

    async def stop(self) -> None:
        await self._discard()


class Dashboard:
    """The dashboard service; `port=0` (tests) binds a free port, readable from `.port` after start()."""

    def __init__(
        self, settings: Settings, *, port: int | None = None, keepalive: float = 15.0, max_log: int = 10_000
    ) -> None:
        self.settings = settings
        # First, so a dashboard nobody said who may use stops at once (SettingsError, exit 2).
        self.access = Access.from_settings(settings)
        # Microseconds since the epoch: sequence ids of an earlier run of the process are always lower,
        # so a browser reconnecting after a restart gets a snapshot, not someone else's replay.
        history = settings.dashboard_history_per_alert
        book = AlertBook(first_seq=time.time_ns() // 1000, max_log=max_log, max_history=history)
        self.state = DashboardState(book=book)
        self._port = settings.dashboard_port if port is None else port
        self._keepalive = keepalive
        self._acks = AckProducer(settings)
        self._reader = AlertsReader(settings, self.state)
        self.views = ClinicalViews(
            rules=load_rules(settings.rules_file), tz=settings.tz, notice=settings.dashboard_notice
        )
        kinds: dict[str, InputKind] = {settings.topic_labs: "labs", settings.topic_orders: "orders"}
        kinds[settings.topic_adt] = "adt"
        # The patient page's results and orders: the input topics read-only, through the worker's codecs.
        handler = InputsHandler(
            self.views.patients,
            kinds,
            tz=settings.tz,
            mapping=load_code_mapping(settings.code_mapping_file),
            on_record=self.views.census.note,
        )
        self._inputs = TopicReader(settings, list(kinds), handler)
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the dashboard is not started")
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        app = create_app(
            self.state,
            self._acks.send,
            access=self.access,
            keepalive=self._keepalive,
            views=self.views,
            public_url=self.settings.dashboard_public_url,
        )
        self._runner = web.AppRunner(app, access_log_class=_AccessLogger, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.dashboard_host, self._port)
        await site.start()
        self._tasks = [
            asyncio.create_task(self._reader.run(), name="dashboard-alerts-reader"),
            asyncio.create_task(self._inputs.run(), name="dashboard-inputs-reader"),
        ]
        log.info("dashboard listening on http://%s:%d/", self.settings.dashboard_host, self.port)
        if self.access.mode == "none":
            log.warning("no sign-in (LYTEWATCH_DASHBOARD_AUTH=none): anyone on this machine may acknowledge")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._acks.stop()


async def run_dashboard(settings: Settings) -> None:
    """Run the dashboard until cancelled (BrokerAccessError at once if the broker refuses our TLS/SASL)."""
    await check_broker_access(settings)
    dashboard = Dashboard(settings)
    await dashboard.start()
    try:
        await asyncio.Event().wait()
    finally:
        await dashboard.stop()


def main() -> None:
    """`python -m streams.web.dashboard`: run with settings from LYTEWATCH_* variables; SIGTERM stops it."""
    try:
        settings = load_settings()
        settings.dashboard_auth_mode  # noqa: B018 - refuses a dashboard nobody said who may use
    except SettingsError as exc:
        print(f"lytewatch dashboard: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def serve() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run_dashboard(settings)

    try:
        asyncio.run(serve())
    except BrokerAccessError as exc:
        print(f"lytewatch dashboard: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
