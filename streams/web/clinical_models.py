"""Response shapes of the patient page, recently-resolved, burden and about endpoints (OpenAPI from these)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

from alerts.models import AlertEvent, Location
from streams.web.alert_book import AlertView


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabPointOut(_Out):
    """One K or Mg result: normalised value, value and unit as sent, and the text a lab report prints."""

    result_id: str
    analyte: str
    value: float | None
    unit: str = "mmol/L"
    sent_value: float | None
    sent_unit: str | None
    text: str | None
    collected_at: AwareDatetime
    status: str
    withdrawn: bool


class OrderOut(_Out):
    """A wasting-diuretic, K-replacement or Mg-replacement order: a bar from start to end (null: running)."""

    order_id: str
    display: str
    classes: list[str]
    status: str
    start: AwareDatetime
    end: AwareDatetime | None
    dose: str | None
    route: str | None


class HistoryEntryOut(_Out):
    seq: int
    event: AlertEvent


class PatientAlertOut(_Out):
    alert: AlertView
    history: list[HistoryEntryOut]


class Thresholds(_Out):
    potassium_low: float
    magnesium_low: float
    potassium_high_below: float
    magnesium_high_below: float
    potassium_critical_below: float
    magnesium_critical_below: float


class PatientOut(_Out):
    """A patient's visit: results, orders, alerts with their history, and the plot's address."""

    patient_id: str
    encounter_id: str | None
    encounters: list[str]
    location: Location | None
    labs: list[LabPointOut]
    orders: list[OrderOut]
    alerts: list[PatientAlertOut]
    thresholds: Thresholds
    plot: str


class ResolvedOut(_Out):
    since: AwareDatetime
    alerts: list[AlertView]


class BurdenRow(_Out):
    rule: str
    severity: str
    alerts: int
    per_100_patient_days: float


class BurdenWindow(_Out):
    window: str
    patient_days: int
    alerts_opened: int
    by_rule_and_severity: list[BurdenRow]
    acknowledged_within_15_min: int
    acknowledgement_measured: int
    acknowledged_within_15_min_share: float | None


class BurdenOut(_Out):
    at: AwareDatetime
    windows: list[BurdenWindow]


class AboutOut(_Out):
    notice: str | None
    hospital_tz: str
    rules_version: str
