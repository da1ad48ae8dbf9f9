"""The dashboard's read-only view of the input topics, decoded by the worker's codecs for the patient page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from alerts.codes import CodeMapping
from alerts.models import MedicationOrder
from streams.codecs import InputKind, decode
from streams.errors import DecodeError
from streams.web.patients import OrderExtras, PatientBook

__all__ = ["InputsHandler", "order_extras"]

log = logging.getLogger(__name__)


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:80]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}"
    return None


def _fhir_extras(obj: dict[str, Any]) -> OrderExtras:
    dosage = obj.get("dosageInstruction")
    first = dosage[0] if isinstance(dosage, list) and dosage and isinstance(dosage[0], dict) else {}
    dose = None
    rates = first.get("doseAndRate")
    if isinstance(rates, list) and rates and isinstance(rates[0], dict):
        quantity = rates[0].get("doseQuantity")
        if isinstance(quantity, dict) and (number := _text(quantity.get("value"))) is not None:
            dose = f"{number} {_text(quantity.get('unit')) or ''}".strip()
    route = first.get("route")
    route_text = None
    if isinstance(route, dict):
        codings = route.get("coding")
        coded = codings[0] if isinstance(codings, list) and codings and isinstance(codings[0], dict) else {}
        route_text = _text(route.get("text")) or _text(coded.get("display")) or _text(coded.get("code"))
    return OrderExtras(dose=dose, route=route_text)


def order_extras(raw: bytes) -> OrderExtras:
    """Dose and route of an order message when it carries them.

    Native JSON: top-level `dose` and `route` (text, e.g. "40 mg", "IV"; EVENTS.md lets producers add
    fields). FHIR MedicationRequest: the first dosageInstruction's doseQuantity and route. HL7 v2 RDE:
    not read (the page then shows the order's name, which usually names dose and route).
    """
    if raw.lstrip()[:1] != b"{":
        return OrderExtras()
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return OrderExtras()
    if not isinstance(obj, dict):
        return OrderExtras()
    if obj.get("resourceType") == "MedicationRequest":
        return _fhir_extras(obj)
    return OrderExtras(dose=_text(obj.get("dose")), route=_text(obj.get("route")))


class InputsHandler:
    """Applies one input record to the patient book; bad input is skipped (the worker dead-letters it)."""

    def __init__(
        self,
        book: PatientBook,
        kinds: dict[str, InputKind],
        *,
        tz: tzinfo,
        mapping: CodeMapping,
        on_record: Callable[[str, datetime], None] | None = None,
    ) -> None:
        self._book = book
        self._kinds = kinds
        self._tz = tz
        self._mapping = mapping
        self._on_record = on_record

    def __call__(self, record: ConsumerRecord) -> None:
        kind = self._kinds.get(record.topic)
        if kind is None or kind == "acks" or record.value is None:
            return
        try:
            decoded = decode(kind, record.value, tz=self._tz, mapping=self._mapping)
        except DecodeError:
            # The worker dead-letters it with its reason; the page has nothing to show of it.
            return
        extras = order_extras(record.value) if kind == "orders" else None
        for event in decoded.events:
            self._book.apply(event, extras if isinstance(event, MedicationOrder) else None)
            if self._on_record is not None:
                arrived = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                self._on_record(event.patient_id, arrived)
