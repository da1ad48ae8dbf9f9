"""What the agents, timers and pages of one worker share; a leaf module, so each of them can import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TableT

from alerts.codes import CodeMapping
from alerts.rulesfile import RulesConfig
from streams.metrics import Metrics
from streams.settings import Settings
from streams.worker.copartition import NOT_CHECKED, EnginePath
from streams.worker.watch import Watch


@dataclass(slots=True)
class Runtime:
    """Everything the agents, timers and pages of one worker share."""

    settings: Settings
    rules: RulesConfig
    mapping: CodeMapping
    metrics: Metrics
    app: faust.App
    inputs: dict[str, faust.TopicT]
    patient_events: faust.TopicT
    alerts: faust.TopicT
    deadletter: faust.TopicT
    patients: TableT[bytes, bytes]
    watch: Watch = field(default_factory=Watch)
    # One hop or the re-key path, decided at start-up from the topics' partition counts.
    engine_path: EnginePath = NOT_CHECKED

    @property
    def recovery(self) -> Any:
        """faust's table recovery service (its `completed` event says when the state is whole)."""
        return self.app.tables.recovery  # type: ignore[attr-defined]
