"""The dashboard's record of each patient's K/Mg results and watched orders, as read from the input topics."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from alerts.models import (
    AdtEvent,
    DrugClass,
    LabResults,
    Location,
    MedicationOrder,
    OrderStatus,
    PatientEvent,
)

__all__ = ["SHOWN_CLASSES", "LabPoint", "OrderBar", "OrderExtras", "PatientBook", "PatientRecord"]

#: The order classes the patient page draws: what wastes K and Mg, and what replaces them.
SHOWN_CLASSES = (
    DrugClass.LOOP,
    DrugClass.THIAZIDE,
    DrugClass.CARBONIC_ANHYDRASE_INHIBITOR,
    DrugClass.POTASSIUM_REPLACEMENT,
    DrugClass.MAGNESIUM_REPLACEMENT,
)
_GONE = (OrderStatus.CANCELLED, OrderStatus.ENTERED_IN_ERROR)


@dataclass(frozen=True, slots=True)
class OrderExtras:
    """What the dashboard shows of an order beyond the normalised event: dose and route, when sent."""

    dose: str | None = None
    route: str | None = None


@dataclass(frozen=True, slots=True)
class LabPoint:
    """One K or Mg result as the patient page plots it; a withdrawn result keeps its place, not plotted."""

    result_id: str
    analyte: str
    value: float | None
    sent_value: float | None
    sent_unit: str | None
    collected_at: datetime
    status: str
    encounter_id: str | None

    @property
    def withdrawn(self) -> bool:
        return self.status in ("cancelled", "entered-in-error") or self.value is None


@dataclass(frozen=True, slots=True)
class OrderBar:
    """One watched order as a bar on the time axis: from its start to its end (None: still running)."""

    order_id: str
    display: str
    classes: tuple[str, ...]
    status: str
    start: datetime
    end: datetime | None
    dose: str | None
    route: str | None
    encounter_id: str | None


@dataclass(slots=True)
class PatientRecord:
    """Everything kept of one patient: results and orders by id, where they are, their latest visit."""

    labs: dict[str, LabPoint] = field(default_factory=dict)
    orders: dict[str, OrderBar] = field(default_factory=dict)
    location: Location | None = None
    encounter_id: str | None = None

    def encounters(self) -> list[str]:
        """Visits seen, oldest first (by their first result or order)."""
        first: dict[str, datetime] = {}
        seen = [(p.encounter_id, p.collected_at) for p in self.labs.values()]
        seen += [(o.encounter_id, o.start) for o in self.orders.values()]
        for encounter, moment in seen:
            if encounter is not None and (encounter not in first or moment < first[encounter]):
                first[encounter] = moment
        return sorted(first, key=lambda e: first[e])


class PatientBook:
    """Applies decoded input events; pure (no I/O, no clock) and bounded.

    The least recently updated patient is forgotten beyond `max_patients`, and a patient's oldest results
    and orders beyond `max_items` each, so a dashboard that runs for months stays small.
    """

    def __init__(self, *, max_patients: int = 50_000, max_items: int = 500) -> None:
        self._patients: OrderedDict[str, PatientRecord] = OrderedDict()
        self._max_patients = max_patients
        self._max_items = max_items

    def __len__(self) -> int:
        return len(self._patients)

    def get(self, patient_id: str) -> PatientRecord | None:
        return self._patients.get(patient_id)

    def apply(self, event: PatientEvent, extras: OrderExtras | None = None) -> bool:
        """Take in one event; False when it is of no interest to the page (acks, unwatched order classes)."""
        if isinstance(event, LabResults):
            record = self._record(event.patient_id)
            for result in event.results:
                record.labs[result.result_id] = LabPoint(
                    result_id=result.result_id,
                    analyte=result.analyte.value,
                    value=result.value if result.status.is_valid else None,
                    sent_value=result.sent_value,
                    sent_unit=result.sent_unit,
                    collected_at=result.collected_at,
                    status=result.status.value,
                    encounter_id=result.encounter_id,
                )
                record.encounter_id = result.encounter_id or record.encounter_id
                record.location = result.location or record.location
            _trim(record.labs, self._max_items)
            return True
        if isinstance(event, MedicationOrder):
            return self._order(event, extras or OrderExtras())
        if isinstance(event, AdtEvent):
            record = self._record(event.patient_id)
            record.location = event.location or record.location
            record.encounter_id = event.encounter_id or record.encounter_id
            return True
        return False

    def _order(self, order: MedicationOrder, extras: OrderExtras) -> bool:
        shown = (i.drug_class.value for i in order.ingredients if i.drug_class in SHOWN_CLASSES)
        classes = tuple(dict.fromkeys(shown))
        if not classes:
            return False
        record = self._record(order.patient_id)
        if order.status in _GONE:
            # Never given: the bar goes, as the engine forgets the order.
            record.orders.pop(order.order_id, None)
            return True
        before = record.orders.get(order.order_id)
        ended = order.status in (OrderStatus.COMPLETED, OrderStatus.STOPPED)
        end = order.end if order.end is not None or not ended else order.recorded_at
        record.orders[order.order_id] = OrderBar(
            order_id=order.order_id,
            display=order.display,
            classes=classes,
            status=order.status.value,
            start=order.start,
            end=end,
            dose=extras.dose or (before.dose if before else None),
            route=extras.route or (before.route if before else None),
            encounter_id=order.encounter_id,
        )
        record.encounter_id = order.encounter_id or record.encounter_id
        _trim(record.orders, self._max_items)
        return True

    def _record(self, patient_id: str) -> PatientRecord:
        record = self._patients.get(patient_id)
        if record is None:
            record = self._patients[patient_id] = PatientRecord()
            while len(self._patients) > self._max_patients:
                self._patients.popitem(last=False)
        else:
            self._patients.move_to_end(patient_id)
        return record


def _trim(items: dict[str, LabPoint] | dict[str, OrderBar], limit: int) -> None:
    while len(items) > limit:
        del items[next(iter(items))]
