"""What a batch did with each input message, counted into the metrics at once when the batch is done.

Counting at the end, with no await in between, means a scrape never sees half a batch: on /metrics, input =
used + ignored + dead-lettered (stage "ingest") holds at every instant (the LytewatchInputUnaccounted rule),
ignored without the reason ack_changes_nothing, which the engine counts for acks ingest counted as used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from alerts.errors import DeadLetterReason, IgnoreReason
from streams.codecs import Decoded
from streams.metrics import Metrics
from streams.worker.ingest import IngestOutcome, ignore_reason


@dataclass(slots=True)
class BatchTally:
    formats: Counter[tuple[str, str]] = field(default_factory=Counter)
    used: Counter[str] = field(default_factory=Counter)
    # (topic, ignore reason) -> messages
    ignored: Counter[tuple[str, str]] = field(default_factory=Counter)
    deadletters: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def ingested(self, topic: str, outcome: IngestOutcome) -> None:
        """One input message went through ingest: used, ignored or dead-lettered (or used, partly bad)."""
        self.formats[(topic, outcome.format)] += 1
        if outcome.disposition == "used":
            self.used[topic] += 1
        elif outcome.disposition == "ignored":
            self.ignored[(topic, outcome.ignore_reason.value)] += 1
        stage = "ingest_partial" if outcome.forward else "ingest"
        for reason, _ in outcome.deadletters:
            self.deadletters[(topic, stage, reason.value)] += 1

    def ignored_message(self, topic: str, decoded: Decoded) -> None:
        """What `ingested` counts for a message decoded to ignored items only, without building its outcome
        (the fetch filter counts most of a lab feed so)."""
        self.formats[(topic, decoded.format)] += 1
        self.ignored[(topic, ignore_reason(decoded.unknown_system).value)] += 1

    def ack_ignored(self, topic: str) -> None:
        """The engine found nothing to do for an ack (an unknown, resolved or other patient's alert)."""
        self.ignored[(topic, IgnoreReason.ACK_CHANGES_NOTHING.value)] += 1

    def failed(self, topic: str, stage: str) -> None:
        """The worker failed on a message (stage "ingest": an input message; "engine": a patient event)."""
        if stage == "ingest":
            self.formats[(topic, "unknown")] += 1
        self.deadletters[(topic, stage, DeadLetterReason.PROCESSING_ERROR.value)] += 1

    def publish(self, metrics: Metrics) -> None:
        for (topic, fmt), n in self.formats.items():
            metrics.count_input(topic, fmt, n=n)
        for topic, n in self.used.items():
            metrics.count_used(topic, n)
        for (topic, reason), n in self.ignored.items():
            metrics.count_ignored(topic, n, reason)
        for (topic, stage, reason), n in self.deadletters.items():
            metrics.count_deadletter(topic, reason, stage=stage, n=n)
