"""`lytewatch replay`: the same decoders and core as the stream, over a replay file instead of Kafka."""

from __future__ import annotations

import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import IO, Any

import orjson

from alerts.codes import CodeMapping
from alerts.engine import event_time
from alerts.errors import DeadLetterReason, IgnoreReason
from alerts.models import AlertEventKind
from alerts.rulesfile import RulesConfig
from streams.codecs import DEFAULT_TOPIC_KINDS
from streams.codecs.deadletter import deadletter_bytes
from streams.worker.envelope import new_origin
from streams.worker.ingest import ingest_message
from streams.worker.stored import StoredPatient, step

#: How many lines pass between two calls of a progress callback.
PROGRESS_EVERY = 4096


@dataclass
class ReplaySummary:
    """Counts for a silent-mode study of thresholds before go-live."""

    lines: int = 0
    used: int = 0
    ignored: int = 0
    deadlettered: int = 0
    deadletter_reasons: Counter[str] = field(default_factory=Counter)
    ignore_reasons: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    patients_with_alerts: set[str] = field(default_factory=set)
    patient_days: set[tuple[str, date]] = field(default_factory=set)

    @property
    def episodes(self) -> int:
        return sum(n for (_, event, _), n in self.transitions.items() if event == AlertEventKind.FIRED.value)

    def add(self, other: ReplaySummary) -> None:
        """Add the counts of another shard of the same file (shards hold disjoint lines and patients)."""
        self.lines += other.lines
        self.used += other.used
        self.ignored += other.ignored
        self.deadlettered += other.deadlettered
        self.deadletter_reasons.update(other.deadletter_reasons)
        self.ignore_reasons.update(other.ignore_reasons)
        self.transitions.update(other.transitions)
        self.patients_with_alerts |= other.patients_with_alerts
        self.patient_days |= other.patient_days

    def render(self) -> str:
        days = len(self.patient_days)
        rate = 100 * self.episodes / days if days else 0.0
        lines = [
            f"lines: {self.lines}  used: {self.used}  ignored: {self.ignored}  "
            f"dead-lettered: {self.deadlettered}",
        ]
        for reason, n in sorted(self.ignore_reasons.items()):
            lines.append(f"  ignored {reason}: {n}")
        for reason, n in sorted(self.deadletter_reasons.items()):
            lines.append(f"  dead letter {reason}: {n}")
        lines.append("alert events by rule, event and severity:")
        for (rule, event, severity), n in sorted(self.transitions.items()):
            lines.append(f"  {rule:<13} {event:<13} {severity:<9} {n}")
        lines.append(f"alerts fired (episodes): {self.episodes}")
        lines.append(f"patients with alerts: {len(self.patients_with_alerts)}")
        lines.append(f"patient-days observed: {days}")
        lines.append(f"alerts per 100 patient-days: {rate:.2f}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Shard:
    """Which part of a file one replay process handles: the patients (and lines) that hash to `index`.

    A patient's events all go to one shard, in file order, so shards never need each other's state.
    A line counts (used / ignored / dead-lettered) in exactly one shard.
    """

    index: int = 0
    count: int = 1

    def owns_patient(self, patient_id: str) -> bool:
        # crc32, not hash(): it must be the same in every process (str hashes are salted per process).
        return self.count == 1 or zlib.crc32(patient_id.encode()) % self.count == self.index

    def owns_line(self, line_no: int) -> bool:
        return line_no % self.count == self.index


#: Where an output record belongs in the single-process order: (line number, event index, alert index).
OutputKey = tuple[int, int, int]


class Sink:
    """Where a replay writes alert events and dead letters; a shard's sink also keeps their order keys."""

    def alert(self, key: OutputKey, record: bytes) -> None:
        raise NotImplementedError

    def deadletter(self, line_no: int, record: bytes) -> None:
        raise NotImplementedError


class StreamSink(Sink):
    """NDJSON straight to the output files (a single process produces them in order)."""

    def __init__(self, alerts_out: IO[bytes], deadletter_out: IO[bytes] | None) -> None:
        self._alerts = alerts_out
        self._deadletters = deadletter_out

    def alert(self, key: OutputKey, record: bytes) -> None:
        self._alerts.write(record + b"\n")

    def deadletter(self, line_no: int, record: bytes) -> None:
        if self._deadletters is not None:
            self._deadletters.write(record + b"\n")


def replay(
    lines: Iterable[bytes],
    *,
    rules: RulesConfig,
    mapping: CodeMapping,
    tz: tzinfo,
    alerts_out: IO[bytes],
    deadletter_out: IO[bytes] | None = None,
    started_at: datetime | None = None,
) -> ReplaySummary:
    """Process a replay file in order, writing alert events (and dead letters) as NDJSON."""
    return replay_shard(
        lines,
        Shard(),
        StreamSink(alerts_out, deadletter_out),
        rules=rules,
        mapping=mapping,
        tz=tz,
        started_at=started_at or datetime.now(UTC),
    )


def replay_shard(
    lines: Iterable[bytes],
    shard: Shard,
    sink: Sink,
    *,
    rules: RulesConfig,
    mapping: CodeMapping,
    tz: tzinfo,
    started_at: datetime,
    progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """Replay the lines and patients of one shard.

    Output is deterministic: an alert event's `emitted_at` is its `event_time` (the replayed timeline has
    no wall clock), and a dead letter's `at` is `started_at`, the same for every line and every shard.
    """
    summary = ReplaySummary()
    patients: dict[str, StoredPatient] = {}
    for line_no, line in enumerate(lines, start=1):
        if progress is not None and line_no % PROGRESS_EVERY == 0:
            progress(line_no)
        envelope = _envelope(line, line_no, started_at, shard, summary, sink)
        if envelope is None:
            continue
        topic, value = envelope
        # Only native JSON is routed on `patient_id` (a FHIR resource names its patient elsewhere).
        native = type(value) is dict and "resourceType" not in value
        patient = value.get("patient_id") if native else None
        if type(patient) is str and shard.count > 1:
            # The decoders take a native JSON object's patient from `patient_id` as is: route on it.
            if not shard.owns_patient(patient):
                continue
            counts = True
        else:
            # Anything else (HL7 text, FHIR, a malformed id) is decoded by every shard, which applies only
            # its own patients' events; the line counts in one shard.
            counts = shard.owns_line(line_no)
        outcome = ingest_message(
            DEFAULT_TOPIC_KINDS[topic],
            _raw_value(value),
            new_origin(topic, 0, line_no),
            key=None,
            tz=tz,
            mapping=mapping,
            now=started_at,
            parsed=value if type(value) is dict else None,
        )
        if counts:
            _count(outcome.disposition, summary, outcome.ignore_reason)
            for reason, record in outcome.deadletters:
                summary.deadletter_reasons[reason.value] += 1
                sink.deadletter(line_no, record)
        for index, event_envelope in enumerate(outcome.forward):
            event = event_envelope.event
            pid = event.patient_id
            if not shard.owns_patient(pid):
                if type(patient) is str:
                    raise RuntimeError(f"line {line_no}: routed on patient_id but decoded another patient")
                continue
            result = step(patients.get(pid), event_envelope, rules, wall_now=0.0)
            if result.stored is None:
                continue
            if result.ignored_ack and counts:
                # Decoded fine, but the engine found nothing to acknowledge: ignored, not used.
                summary.used -= 1
                summary.ignored += 1
                summary.ignore_reasons[IgnoreReason.ACK_CHANGES_NOTHING.value] += 1
            patients[pid] = result.stored
            when = event_time(event)
            if when is not None:
                summary.patient_days.add((pid, when.astimezone(tz).date()))
            for seq, alert in enumerate(result.alerts):
                stamped = alert.model_copy(update={"emitted_at": alert.event_time})
                sink.alert((line_no, index, seq), stamped.model_dump_json().encode())
                summary.transitions[(alert.rule.value, alert.event.value, alert.severity.value)] += 1
                summary.patients_with_alerts.add(pid)
    return summary


def _count(disposition: str, summary: ReplaySummary, ignore_reason: IgnoreReason | None = None) -> None:
    summary.lines += 1
    if disposition == "used":
        summary.used += 1
    elif disposition == "ignored":
        summary.ignored += 1
        if ignore_reason is not None:
            summary.ignore_reasons[ignore_reason.value] += 1
    else:
        summary.deadlettered += 1


def _raw_value(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


def _envelope(
    line: bytes, line_no: int, now: datetime, shard: Shard, summary: ReplaySummary, sink: Sink
) -> tuple[str, Any] | None:
    """(topic, value) of a replay line; None for a blank line or a bad one (dead-lettered by its shard)."""
    try:
        envelope = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if not line.strip():
            return None
        reason, detail = DeadLetterReason.NOT_JSON, f"line {line_no} is not JSON: {exc}"
    else:
        if type(envelope) is dict and "value" in envelope and envelope.get("topic") in DEFAULT_TOPIC_KINDS:
            return envelope["topic"], envelope["value"]
        if not isinstance(envelope, dict) or "value" not in envelope:
            reason, detail = DeadLetterReason.SCHEMA_ERROR, f"line {line_no}: expected {{topic, value}}"
        else:
            known = sorted(DEFAULT_TOPIC_KINDS)
            reason = DeadLetterReason.SCHEMA_ERROR
            detail = f"line {line_no}: topic must be one of {known}, got {envelope.get('topic')!r}"
    if shard.owns_line(line_no):
        _count("deadlettered", summary)
        summary.deadletter_reasons[reason.value] += 1
        record = deadletter_bytes(
            topic="replay",
            partition=0,
            offset=line_no,
            key=None,
            raw=line,
            reason=reason,
            detail=detail,
            at=now,
        )
        sink.deadletter(line_no, record)
    return None


def open_lines(path: str) -> Iterator[bytes]:
    """Lines of a file, or of standard input for "-"."""
    if path == "-":
        yield from sys.stdin.buffer
        return
    with open(path, "rb") as handle:
        yield from handle
