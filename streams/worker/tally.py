"""What a batch did with each input message, counted into the metrics at once when the batch is done.

Counting at the end, with no await in between, means a scrape never sees half a batch: on /metrics, input =
used + ignored + dead-lettered (stage "ingest") holds at every instant (the LytewatchInputUnaccounted rule).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from alerts.errors import DeadLetterReason
from streams.metrics import Metrics
from streams.worker.ingest import IngestOutcome


@dataclass(slots=True)
class BatchTally:
    formats: Counter[tuple[str, str]] = field(default_factory=Counter)
    used: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    deadletters: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def ingested(self, topic: str, outcome: IngestOutcome) -> None:
        """One input message went through ingest: used, ignored or dead-lettered (or used, partly bad)."""
        self.formats[(topic, outcome.format)] += 1
        if outcome.disposition == "used":
            self.used[topic] += 1
        elif outcome.disposition == "ignored":
            self.ignored[topic] += 1
        stage = "ingest_partial" if outcome.forward else "ingest"
        for reason, _ in outcome.deadletters:
            self.deadletters[(topic, stage, reason.value)] += 1

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
        for topic, n in self.ignored.items():
            metrics.count_ignored(topic, n)
        for (topic, stage, reason), n in self.deadletters.items():
            metrics.count_deadletter(topic, reason, stage=stage, n=n)
