"""Normalised input events and alert events: the only shapes the clinical core reads and writes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True, serialize_by_alias=True)


class Location(_Model):
    """Where the patient is; used to route alerts."""

    unit: str | None = None
    room: str | None = None
    bed: str | None = None


# --- input events ------------------------------------------------------------------------------


class Analyte(StrEnum):
    """The two watched analytes."""

    POTASSIUM = "potassium"
    MAGNESIUM = "magnesium"


class ResultStatus(StrEnum):
    """A lab result's status (FHIR Observation.status / HL7 OBX-11, normalised)."""

    PRELIMINARY = "preliminary"
    FINAL = "final"
    CORRECTED = "corrected"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"

    @property
    def is_valid(self) -> bool:
        """A cancelled or entered-in-error result no longer exists."""
        return self in (ResultStatus.PRELIMINARY, ResultStatus.FINAL, ResultStatus.CORRECTED)


class LabResult(_Model):
    """One K or Mg result, its value normalised to mmol/L and rounded to two decimals."""

    result_id: str
    patient_id: str
    encounter_id: str | None = None
    analyte: Analyte
    code: str
    status: ResultStatus = ResultStatus.FINAL
    # None only when the status is not valid and the message carried no value.
    value: float | None
    sent_value: float | None = None
    sent_unit: str | None = None
    collected_at: AwareDatetime
    resulted_at: AwareDatetime | None = None
    location: Location | None = None


class LabResults(_Model):
    """One input message's watched results (an HL7 ORU may carry several), applied as one event."""

    kind: Literal["labs"] = "labs"
    patient_id: str
    results: tuple[LabResult, ...] = Field(min_length=1)


class DrugClass(StrEnum):
    """What a watched ingredient does to potassium and magnesium."""

    LOOP = "loop"
    THIAZIDE = "thiazide"
    CARBONIC_ANHYDRASE_INHIBITOR = "carbonic_anhydrase_inhibitor"
    POTASSIUM_SPARING = "potassium_sparing"
    POTASSIUM_REPLACEMENT = "potassium_replacement"
    MAGNESIUM_REPLACEMENT = "magnesium_replacement"

    @property
    def wastes_potassium_and_magnesium(self) -> bool:
        """True for the wasting diuretics: loop, thiazide, carbonic anhydrase inhibitor."""
        return self in (
            DrugClass.LOOP,
            DrugClass.THIAZIDE,
            DrugClass.CARBONIC_ANHYDRASE_INHIBITOR,
        )


class Ingredient(_Model):
    """A watched ingredient of an ordered product and its class."""

    name: str
    drug_class: DrugClass = Field(alias="class")


class OrderStatus(StrEnum):
    """A medication order's status as EVENTS.md names it."""

    ACTIVE = "active"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


class MedicationOrder(_Model):
    """One event of a medication order of a watched class (other drugs are ignored at ingest)."""

    kind: Literal["order"] = "order"
    order_id: str
    patient_id: str
    encounter_id: str | None = None
    display: str
    code: str | None = None
    system: str | None = None
    ingredients: tuple[Ingredient, ...] = Field(min_length=1)
    status: OrderStatus
    start: AwareDatetime
    end: AwareDatetime | None = None
    recorded_at: AwareDatetime


class AdtKind(StrEnum):
    """Admission, transfer or discharge."""

    ADMIT = "admit"
    TRANSFER = "transfer"
    DISCHARGE = "discharge"


class AdtEvent(_Model):
    """An admission, transfer or discharge."""

    kind: Literal["adt"] = "adt"
    patient_id: str
    encounter_id: str | None = None
    event: AdtKind
    location: Location | None = None
    occurred_at: AwareDatetime


class Acknowledgement(_Model):
    """Someone has seen an alert."""

    kind: Literal["ack"] = "ack"
    alert_id: str
    patient_id: str
    by: str
    at: AwareDatetime
    note: str | None = None


PatientEvent = Annotated[
    LabResults | MedicationOrder | AdtEvent | Acknowledgement, Field(discriminator="kind")
]


# --- alert events (the `alerts.electrolyte` contract) ---------------------------------------------


class RuleId(StrEnum):
    """The alert rules of CLINICAL_RULES.md."""

    KMG_CHECK_MG = "KMG_CHECK_MG"
    KMG_COMBINED = "KMG_COMBINED"


class Severity(StrEnum):
    """Alert severity, lowest first."""

    ADVISORY = "advisory"
    MODERATE = "moderate"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for advisory up to 3 for critical."""
        return _SEVERITY_ORDER.index(self)

    def raised(self) -> Severity:
        """One step up, saturating at critical (the refractory modifier)."""
        return _SEVERITY_ORDER[min(self.rank + 1, len(_SEVERITY_ORDER) - 1)]


_SEVERITY_ORDER = (Severity.ADVISORY, Severity.MODERATE, Severity.HIGH, Severity.CRITICAL)


class AlertEventKind(StrEnum):
    """The lifecycle transitions an alert event reports."""

    FIRED = "fired"
    ESCALATED = "escalated"
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ResolveReason(StrEnum):
    """Why an alert was resolved."""

    RETRACTED = "retracted"
    SUPERSEDED = "superseded"
    NORMALIZED = "normalized"
    EXPIRED = "expired"
    DIURETIC_STOPPED = "diuretic_stopped"
    DISCHARGED = "discharged"


class SentValue(_Model):
    """A result value and unit exactly as the lab sent them."""

    value: float
    unit: str


class LabEvidence(_Model):
    """A contributing K or Mg result, in mmol/L, with the value as sent."""

    value: float
    unit: str = "mmol/L"
    as_sent: SentValue | None = None
    collected_at: AwareDatetime
    result_id: str


class DiureticEvidence(_Model):
    """A contributing diuretic order."""

    order_id: str
    ingredient: str
    drug_class: DrugClass = Field(alias="class")
    start: AwareDatetime
    end: AwareDatetime | None = None


class Evidence(_Model):
    """What an alert rests on: the K and Mg results, the diuretics, and the refractory modifier."""

    potassium: LabEvidence | None = None
    magnesium: LabEvidence | None = None
    diuretics: tuple[DiureticEvidence, ...] = ()
    refractory: bool = False


class AlertEvent(_Model):
    """One transition of an alert's lifecycle, exactly as published on `alerts.electrolyte`."""

    alert_id: str
    revision: int
    event: AlertEventKind
    rule: RuleId
    rules_version: str
    severity: Severity
    patient_id: str
    encounter_id: str | None = None
    location: Location | None = None
    summary: str
    recommendation: str
    evidence: Evidence
    reason: ResolveReason | None = None
    acknowledged_by: str | None = None
    event_time: AwareDatetime
    # Wall-clock time, set at the edge (agent or replay) when the event is published; the core leaves it None.
    emitted_at: AwareDatetime | None = None
