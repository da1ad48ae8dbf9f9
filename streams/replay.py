"""`lytewatch replay`: the same decoders and core as the stream, over a replay file instead of Kafka."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import IO

import orjson

from alerts.codes import CodeMapping
from alerts.engine import event_time
from alerts.errors import DeadLetterReason, IgnoreReason
from alerts.models import AlertEvent, AlertEventKind
from alerts.rulesfile import RulesConfig
from streams.codecs import DEFAULT_TOPIC_KINDS
from streams.codecs.deadletter import deadletter_bytes
from streams.worker.envelope import Origin
from streams.worker.ingest import ingest_message
from streams.worker.stored import StoredPatient, step


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


def _raw_value(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value)


def replay(
    lines: Iterable[bytes],
    *,
    rules: RulesConfig,
    mapping: CodeMapping,
    tz: tzinfo,
    alerts_out: IO[bytes],
    deadletter_out: IO[bytes] | None = None,
) -> ReplaySummary:
    """Process a replay file in order, writing alert events (and dead letters) as NDJSON."""
    summary = ReplaySummary()
    patients: dict[str, StoredPatient] = {}
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        summary.lines += 1
        now = datetime.now(UTC)
        for reason, record in _bad_envelope(line, line_no, now):
            summary.deadlettered += 1
            summary.deadletter_reasons[reason.value] += 1
            if deadletter_out is not None:
                deadletter_out.write(record + b"\n")
            break
        else:
            envelope = orjson.loads(line)
            topic = envelope["topic"]
            origin = Origin(topic=topic, partition=0, offset=line_no)
            outcome = ingest_message(
                DEFAULT_TOPIC_KINDS[topic],
                _raw_value(envelope["value"]),
                origin,
                key=None,
                tz=tz,
                mapping=mapping,
                now=now,
            )
            for reason, record in outcome.deadletters:
                summary.deadletter_reasons[reason.value] += 1
                if deadletter_out is not None:
                    deadletter_out.write(record + b"\n")
            disposition = outcome.disposition
            summary.used += disposition == "used"
            if disposition == "ignored":
                summary.ignored += 1
                summary.ignore_reasons[outcome.ignore_reason.value] += 1
            summary.deadlettered += disposition == "deadlettered"
            for event_envelope in outcome.forward:
                event = event_envelope.event
                result = step(patients.get(event.patient_id), event_envelope, rules, wall_now=0.0)
                if result.stored is None:
                    continue
                if result.ignored_ack:
                    # Decoded fine, but the engine found nothing to acknowledge: ignored, not used.
                    summary.used -= 1
                    summary.ignored += 1
                    summary.ignore_reasons[IgnoreReason.ACK_CHANGES_NOTHING.value] += 1
                patients[event.patient_id] = result.stored
                when = event_time(event)
                if when is not None:
                    summary.patient_days.add((event.patient_id, when.astimezone(tz).date()))
                _write_alerts(result.alerts, alerts_out, summary)
    return summary


def _write_alerts(alerts: Iterable[AlertEvent], out: IO[bytes], summary: ReplaySummary) -> None:
    emitted_at = datetime.now(UTC)
    for alert in alerts:
        out.write(alert.model_copy(update={"emitted_at": emitted_at}).model_dump_json().encode() + b"\n")
        summary.transitions[(alert.rule.value, alert.event.value, alert.severity.value)] += 1
        summary.patients_with_alerts.add(alert.patient_id)


def _bad_envelope(line: bytes, line_no: int, now: datetime) -> Iterator[tuple[DeadLetterReason, bytes]]:
    """A dead letter for a line that is not a replay envelope at all (yields nothing for a good one)."""
    try:
        envelope = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        reason, detail = DeadLetterReason.NOT_JSON, f"line {line_no} is not JSON: {exc}"
    else:
        if not isinstance(envelope, dict) or "value" not in envelope:
            reason, detail = DeadLetterReason.SCHEMA_ERROR, f"line {line_no}: expected {{topic, value}}"
        elif envelope.get("topic") not in DEFAULT_TOPIC_KINDS:
            reason = DeadLetterReason.SCHEMA_ERROR
            known = sorted(DEFAULT_TOPIC_KINDS)
            detail = f"line {line_no}: topic must be one of {known}, got {envelope.get('topic')!r}"
        else:
            return
    yield (
        reason,
        deadletter_bytes(
            topic="replay",
            partition=0,
            offset=line_no,
            key=None,
            raw=line,
            reason=reason,
            detail=detail,
            at=now,
        ),
    )


def open_lines(path: str) -> Iterator[bytes]:
    """Lines of a file, or of standard input for "-"."""
    if path == "-":
        yield from sys.stdin.buffer
        return
    with open(path, "rb") as handle:
        yield from handle
