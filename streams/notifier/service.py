"""The notifier service: consumes alert events, runs their timers, delivers each notification once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from alerts.errors import DeadLetterReason
from alerts.models import AlertEvent
from alerts.notifier.delivery import DeliveryError
from alerts.notifier.policy import (
    Notification,
    NotificationKind,
    Transition,
    next_due,
    plan,
    settled,
    transition_time,
)
from alerts.notifier.routing import RouteMatch, RoutingConfig, match_routes
from streams import kafka
from streams.logs import message_ref
from streams.metrics import Metrics
from streams.notifier.deadletter import (
    UnreadableAlertError,
    delivery_letter,
    read_alert,
    unreadable_letter,
)
from streams.notifier.deliver import deliver
from streams.notifier.delivery_log import DeliveryLog, ensure_notifier_topics, read_delivery_log
from streams.notifier.receivers import Receiver, build_receivers
from streams.settings import Settings

log = logging.getLogger("lytewatch.notifier")

#: Receiver type (routing file) -> the closed `receiver_type` label set of lytewatch_notifications.
METRIC_TYPE = {"webhook": "webhook", "email": "email", "pagerduty": "pager", "slack": "chat"}
_FINISHED_MEMORY = 100_000


@dataclass(eq=False)
class _Track:
    """One routed alert: its transitions since a route first matched, and where each route starts."""

    alert_id: str
    tp: TopicPartition
    transitions: list[Transition] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    routes: dict[str, tuple[RouteMatch, int]] = field(default_factory=dict)
    pending: int = 0
    dirty: bool = True
    next_wake: datetime | None = None


class _Slotted:
    """A receiver that holds one of the concurrency slots only while it sends, not while backing off."""

    def __init__(self, inner: Receiver, slots: asyncio.Semaphore) -> None:
        self.inner, self.name, self.type, self._slots = inner, inner.name, inner.type, slots

    async def send(self, notification: Notification) -> None:
        async with self._slots:
            await self.inner.send(notification)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class NotifierService(ConsumerRebalanceListener):
    """Consumer group on the alerts topic; timers on the alerts' own time axis; a delivery log in Kafka.

    Offsets are committed only up to the first transition of the oldest alert that may still need a
    notification, so a restart re-reads what it needs and the delivery log skips what was sent.
    """

    def __init__(
        self,
        settings: Settings,
        routing: RoutingConfig,
        *,
        group_id: str | None = None,
        start_from: Literal["earliest", "latest"] = "latest",
        tick: float = 0.1,
        commit_interval: float = 1.0,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.settings = settings
        self.routing = routing
        self.group_id = group_id or f"{settings.app_id}-notifier"
        self.start_from = start_from
        self.tick = tick
        self.commit_interval = commit_interval
        self.metrics = metrics or Metrics()
        self.metrics.prime_notifier()
        self.clock = clock
        self.ready = asyncio.Event()
        self.log = DeliveryLog()
        self._tracks: dict[str, _Track] = {}
        self._finished: OrderedDict[str, int] = OrderedDict()
        self._next: dict[TopicPartition, int] = {}
        self._latest: dict[TopicPartition, datetime] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._scheduled: dict[str, TopicPartition] = {}  # identity -> partition of its alert
        self._queues: dict[tuple[str, str], deque[tuple[_Track, Notification]]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._fatal: BaseException | None = None
        self._slots = asyncio.Semaphore(routing.concurrency)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._receivers: dict[str, Receiver] = {}
        self._loaded_once = False
        self._letters: list[tuple[bytes | None, bytes]] = []  # dead letters to write before committing

    # --- lifecycle ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled (or until a delivery-log write fails, which is raised)."""
        s = self.settings
        await ensure_notifier_topics(s)
        self.log = await read_delivery_log(s, s.topic_notifier_log)
        log.info("delivery log read: %d deliveries on record", len(self.log))
        self._producer = kafka.producer(s, enable_idempotence=True)
        self._consumer = kafka.consumer(
            s,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self.start_from,
            isolation_level="read_committed",
        )
        async with aiohttp.ClientSession() as session:
            self._receivers = build_receivers(self.routing, s.dashboard_public_url, session)
            await self._producer.start()
            try:
                await self._consumer.start()
                self._consumer.subscribe([s.topic_alerts], listener=self)
                self.ready.set()
                await self._loop(self._consumer)
            finally:
                self.ready.clear()
                await self._stop_workers()
                with contextlib.suppress(Exception):
                    await self._commit(force=True)
                await self._consumer.stop()
                await self._producer.stop()

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        last_commit = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if self._fatal is not None:
                raise self._fatal
            batch = await consumer.getmany(timeout_ms=int(self.tick * 1000), max_records=1000)
            for tp, records in batch.items():
                for record in records:
                    self._apply_one(tp, record)
            await self._flush_letters()
            self._schedule()
            if loop.time() - last_commit >= self.commit_interval:
                await self._commit()
                last_commit = loop.time()

    async def _stop_workers(self) -> None:
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        with contextlib.suppress(Exception):
            await self._commit(force=True)
        gone = set(revoked)
        for key, task in list(self._workers.items()):
            queue = self._queues.get(key)
            if queue and queue[0][0].tp in gone:
                task.cancel()
        for alert_id, track in list(self._tracks.items()):
            if track.tp in gone:
                del self._tracks[alert_id]
        for identity, tp in list(self._scheduled.items()):
            if tp in gone:
                del self._scheduled[identity]
        for tp in gone:
            for table in (self._next, self._latest, self._committed):
                table.pop(tp, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # Another notifier may have owned these partitions and delivered since we read the log.
        if self._loaded_once:
            self.log = await read_delivery_log(self.settings, self.settings.topic_notifier_log)
        self._loaded_once = True

    # --- consuming ----------------------------------------------------------------------------------

    def _apply_one(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        """Read one record; one that is not an alert event, or that fails, becomes a dead letter."""
        self._next[tp] = record.offset + 1
        ref = message_ref(tp.topic, tp.partition, record.offset)
        try:
            alert = read_alert(record.value)
        except UnreadableAlertError as exc:
            log.warning("dead-lettering %s: not an alert event (%s)", ref, exc.reason.value)
            self._letter(record, exc.reason, exc.detail)
            return
        try:
            self._apply(tp, record, alert, ref)
        except Exception as exc:  # one bad alert must not stop paging for every other alert
            # The exception text may quote patient data: only its type at ERROR, the rest at DEBUG.
            log.error("dead-lettering %s: the notifier failed on it (%s)", ref, type(exc).__name__)  # noqa: TRY400
            log.debug("failure on %s", ref, exc_info=True)
            self._letter(record, DeadLetterReason.PROCESSING_ERROR, type(exc).__name__)

    def _letter(self, record: ConsumerRecord, reason: DeadLetterReason, detail: str) -> None:
        self._letters.append((record.key, unreadable_letter(record, reason, detail, self.clock())))
        self.metrics.count_deadletter(record.topic, reason)

    async def _flush_letters(self) -> None:
        """Write the dead letters of the batch before any commit can move past their records."""
        assert self._producer is not None
        letters, self._letters = self._letters, []
        for key, value in letters:
            await self._producer.send_and_wait(self.settings.topic_notifier_deadletter, value, key=key)

    def _apply(self, tp: TopicPartition, record: ConsumerRecord, alert: AlertEvent, ref: str) -> None:
        at = transition_time(alert, datetime.fromtimestamp(record.timestamp / 1000, UTC))
        self._latest[tp] = max(at, self._latest.get(tp, at))
        if self._finished.get(alert.alert_id, -1) >= alert.revision:
            return  # an at-least-once re-delivery of an alert we are done with
        track = self._tracks.get(alert.alert_id)
        if track is not None and track.transitions:
            if alert.revision <= track.transitions[-1].alert.revision:
                return
            at = max(at, track.transitions[-1].at)
        matches = match_routes(self.routing, alert)
        if track is None:
            if not matches:
                return  # dashboard only (advisory by default): nothing to send, nothing to remember
            track = self._tracks[alert.alert_id] = _Track(alert.alert_id, tp)
        index = len(track.transitions)
        track.transitions.append(Transition(alert, at))
        track.offsets.append(record.offset)
        for match in matches:
            track.routes.setdefault(match.path, (match, index))
        track.dirty = True
        log.debug("%s: alert %s revision %d %s", ref, alert.alert_id, alert.revision, alert.event.value)

    def _watermark(self, tp: TopicPartition, now: datetime) -> datetime:
        """How far this partition's timers may run: now when caught up, else the latest event read.

        While catching up on a backlog, a timer must not fire before the events that could cancel it
        (a resolve within group_wait) have been read; so decisions do not depend on consumer speed.
        """
        assert self._consumer is not None
        highwater = self._consumer.highwater(tp)
        position = self._next.get(tp)
        if highwater is None or position is None or position >= highwater:
            return now
        return min(now, self._latest.get(tp, now))

    def _schedule(self) -> None:
        now = self.clock()
        for track in list(self._tracks.values()):
            until = self._watermark(track.tp, now)
            if not track.dirty and (track.next_wake is None or track.next_wake > until):
                continue
            track.dirty = False
            wakes: list[datetime] = []
            done = True
            for match, start in track.routes.values():
                transitions = track.transitions[start:]
                notes = plan(transitions, match, until)
                for note in notes:
                    self._enqueue(track, note)
                wake = next_due(transitions, match, until)
                if wake is not None:
                    wakes.append(wake)
                done = done and settled(transitions, match, until)
            track.next_wake = min(wakes, default=None)
            if done and track.pending == 0:
                self._finish(track, until)

    def _finish(self, track: _Track, until: datetime) -> None:
        del self._tracks[track.alert_id]
        self._finished[track.alert_id] = track.transitions[-1].alert.revision
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)
        for match, start in track.routes.values():
            notes = plan(track.transitions[start:], match, until)
            if not any(n.kind is NotificationKind.TRIGGER for n in notes):
                rtype = self.routing.receiver(match.receivers[0]).type
                self.metrics.notifications.labels(METRIC_TYPE[rtype], "suppressed").inc()
            for note in notes:
                self._scheduled.pop(note.identity, None)
        log.debug("alert %s: nothing more to send", track.alert_id)

    # --- delivering ---------------------------------------------------------------------------------

    def _enqueue(self, track: _Track, note: Notification) -> None:
        identity = note.identity
        if identity in self._scheduled or self.log.has(identity):
            return
        self._scheduled[identity] = track.tp
        track.pending += 1
        key = (note.receiver, track.alert_id)
        self._queues.setdefault(key, deque()).append((track, note))
        if key not in self._workers:
            task = asyncio.create_task(self._drain(key), name=f"deliver {note.receiver}")
            self._workers[key] = task
            task.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._fatal is None:
            self._fatal = task.exception()

    async def _drain(self, key: tuple[str, str]) -> None:
        """Deliver one receiver's notifications about one alert in order (a resolve after its trigger)."""
        queue = self._queues[key]
        try:
            while queue:
                track, note = queue[0]
                await self._deliver(note)
                queue.popleft()
                track.pending -= 1
                track.dirty = True
        finally:
            self._workers.pop(key, None)
            self._queues.pop(key, None)

    async def _deliver(self, note: Notification) -> None:
        if self.log.has(note.identity):
            return
        receiver = self._receivers[note.receiver]
        rtype = METRIC_TYPE[receiver.type]

        def retried(_: DeliveryError, __: float) -> None:
            self.metrics.notifications.labels(rtype, "retried").inc()

        try:
            attempts = await deliver(
                _Slotted(receiver, self._slots), note, self.routing.retry, on_retry=retried
            )
        except DeliveryError as exc:
            log.warning("delivery %s failed for good (%d attempts): %s", note.log_key, exc.attempts, exc)
            await self._dead_letter(note, receiver, exc)
            await self._record(note, receiver, "dead_lettered", exc.attempts, str(exc))
            self.metrics.notifications.labels(rtype, "failed").inc()
            return
        await self._record(note, receiver, "delivered", attempts, None)
        self.metrics.notifications.labels(rtype, "delivered").inc()
        log.info("delivered %s (%d attempt(s))", note.log_key, attempts)

    async def _record(
        self, note: Notification, receiver: Receiver, outcome: str, attempts: int, error: str | None
    ) -> None:
        """Write the delivery-log record; only after this is a delivery known to have happened."""
        assert self._producer is not None
        record = {
            "receiver": note.receiver,
            "receiver_type": receiver.type,
            "alert_id": note.alert.alert_id,
            "revision": note.alert.revision,
            "kind": note.kind_label,
            "outcome": outcome,
            "attempts": attempts,
            "error": error,
            "at": self.clock().isoformat(),
        }
        value = json.dumps(record).encode()
        await self._producer.send_and_wait(self.settings.topic_notifier_log, value, key=note.log_key.encode())
        self.log.add(note.log_key, record)

    async def _dead_letter(self, note: Notification, receiver: Receiver, exc: DeliveryError) -> None:
        assert self._producer is not None
        letter = delivery_letter(note, receiver, exc, self.clock())
        topic = self.settings.topic_notifier_deadletter
        await self._producer.send_and_wait(topic, letter, key=note.alert.alert_id.encode())

    # --- offsets ------------------------------------------------------------------------------------

    async def _commit(self, *, force: bool = False) -> None:
        """Commit, per partition, the first offset that a restart would still need to re-read."""
        if self._consumer is None:
            return
        pins: dict[TopicPartition, int] = {}
        for track in self._tracks.values():
            first = min(start for _, start in track.routes.values())
            offset = track.offsets[first]
            pins[track.tp] = min(offset, pins.get(track.tp, offset))
        offsets = {}
        for tp, position in self._next.items():
            safe = min(position, pins.get(tp, position))
            if force or self._committed.get(tp) != safe:
                offsets[tp] = safe
        if offsets:
            await self._consumer.commit(offsets)
            self._committed.update(offsets)

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    @property
    def deliveries_in_flight(self) -> int:
        """Receivers with a notification queued or being sent right now (0: the notifier is idle)."""
        return len(self._workers)
