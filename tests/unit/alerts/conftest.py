"""Factory fixtures for the clinical-core tests: terse builders of events and a stateful engine runner."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine import PatientEventType, apply
from alerts.models import (
    Acknowledgement,
    AdtEvent,
    AdtKind,
    AlertEvent,
    Analyte,
    DrugClass,
    Ingredient,
    LabResult,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    ResultStatus,
)
from alerts.rulesfile import RulesConfig
from alerts.state import PatientState, decode_state, encode_state

PATIENT = "MRN0001"
# Day 1 00:00 of every scenario; hours() counts from here.
DAY1 = datetime(2026, 3, 2, tzinfo=UTC)

Hours = Callable[[float], datetime]
MakeResult = Callable[..., LabResult]
MakeOru = Callable[..., LabResults]
MakeLab = Callable[..., LabResults]
MakeOrder = Callable[..., MedicationOrder]
MakeAdt = Callable[..., AdtEvent]
MakeAck = Callable[..., Acknowledgement]

# The classes a drug name gets in these tests (ingest classifies in the product).
DRUGS: dict[str, tuple[DrugClass, ...]] = {
    "furosemide": (DrugClass.LOOP,),
    "bumetanide": (DrugClass.LOOP,),
    "hydrochlorothiazide": (DrugClass.THIAZIDE,),
    "acetazolamide": (DrugClass.CARBONIC_ANHYDRASE_INHIBITOR,),
    "spironolactone": (DrugClass.POTASSIUM_SPARING,),
    "triamterene": (DrugClass.POTASSIUM_SPARING,),
    "potassium chloride": (DrugClass.POTASSIUM_REPLACEMENT,),
    "magnesium sulfate": (DrugClass.MAGNESIUM_REPLACEMENT,),
}


@pytest.fixture
def hours() -> Hours:
    """hours(10) is day 1 10:00 UTC; hours(24 + 9) is day 2 09:00."""

    def make(h: float) -> datetime:
        return DAY1 + timedelta(hours=h)

    return make


@pytest.fixture
def result() -> MakeResult:
    """One K or Mg LabResult; `analyte` is "K" or "Mg", `at` a datetime."""

    def make(
        analyte: str,
        value: float | None,
        at: datetime,
        rid: str | None = None,
        status: str = "final",
        sent: tuple[float, str] | None = None,
        location: Location | None = None,
    ) -> LabResult:
        return LabResult(
            result_id=rid or f"{analyte}-{at:%d%H%M}",
            patient_id=PATIENT,
            encounter_id="E1",
            analyte=Analyte.POTASSIUM if analyte == "K" else Analyte.MAGNESIUM,
            code="2823-3" if analyte == "K" else "2601-3",
            status=ResultStatus(status),
            value=value,
            sent_value=sent[0] if sent else value,
            sent_unit=sent[1] if sent else "mmol/L",
            collected_at=at,
            location=location,
        )

    return make


@pytest.fixture
def oru() -> MakeOru:
    """One input message carrying several results (applied as one event)."""

    def make(*results: LabResult) -> LabResults:
        return LabResults(patient_id=PATIENT, results=results)

    return make


@pytest.fixture
def k(result: MakeResult, oru: MakeOru) -> MakeLab:
    """k(3.1, hours(10)) is a one-result message with a K of 3.1 mmol/L collected at day 1 10:00."""

    def make(value: float | None, at: datetime, rid: str | None = None, **kw: object) -> LabResults:
        return oru(result("K", value, at, rid, **kw))

    return make


@pytest.fixture
def mg(result: MakeResult, oru: MakeOru) -> MakeLab:
    def make(value: float | None, at: datetime, rid: str | None = None, **kw: object) -> LabResults:
        return oru(result("Mg", value, at, rid, **kw))

    return make


@pytest.fixture
def order() -> MakeOrder:
    """order("furosemide", start) is an active order recorded at its start; every field can be overridden."""

    def make(
        drug: str | Iterable[str],
        start: datetime,
        *,
        end: datetime | None = None,
        status: str = "active",
        recorded_at: datetime | None = None,
        order_id: str | None = None,
    ) -> MedicationOrder:
        names = [drug] if isinstance(drug, str) else list(drug)
        ingredients = tuple(Ingredient(name=name, drug_class=cls) for name in names for cls in DRUGS[name])
        return MedicationOrder(
            order_id=order_id or f"O-{names[0]}",
            patient_id=PATIENT,
            encounter_id="E1",
            display=" / ".join(names),
            ingredients=ingredients,
            status=OrderStatus(status),
            start=start,
            end=end,
            recorded_at=recorded_at or start,
        )

    return make


@pytest.fixture
def adt() -> MakeAdt:
    def make(kind: str, at: datetime, unit: str = "4W", encounter_id: str = "E1") -> AdtEvent:
        return AdtEvent(
            patient_id=PATIENT,
            encounter_id=encounter_id,
            event=AdtKind(kind),
            location=Location(unit=unit, room="12", bed="A"),
            occurred_at=at,
        )

    return make


@pytest.fixture
def ack() -> MakeAck:
    def make(alert_id: str, by: str = "nurse1", at: datetime = DAY1) -> Acknowledgement:
        return Acknowledgement(alert_id=alert_id, patient_id=PATIENT, by=by, at=at)

    return make


@dataclass
class Run:
    """Feeds events through the engine one by one, like the worker, round-tripping the state through bytes."""

    rules: RulesConfig
    pruning: bool = True
    state: PatientState | None = None
    emitted: list[AlertEvent] = field(default_factory=list)

    def feed(self, *events: PatientEventType) -> list[AlertEvent]:
        """Apply events in order; return what these events emitted."""
        out: list[AlertEvent] = []
        for event in events:
            self.state, new = apply(self.state, event, self.rules, pruning=self.pruning)
            self.state = decode_state(encode_state(self.state))
            for alert in new:
                # The engine builds events without validation; every one must survive the published JSON.
                assert AlertEvent.model_validate_json(alert.model_dump_json()) == alert
            out.extend(new)
        self.emitted.extend(out)
        return out

    @property
    def current(self) -> PatientState:
        """The state after the events fed so far (there must have been some)."""
        assert self.state is not None
        return self.state

    @property
    def last(self) -> AlertEvent:
        return self.emitted[-1]


MakeRun = Callable[..., Run]


@pytest.fixture
def run() -> MakeRun:
    """run() is a fresh patient under default rules; run(rules=...) under others."""

    def make(rules: RulesConfig | None = None, pruning: bool = True) -> Run:
        return Run(rules=rules or RulesConfig(), pruning=pruning)

    return make
