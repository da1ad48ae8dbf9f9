"""The dashboard's patient page, recently-resolved, burden and about endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from urllib.parse import quote

import orjson
from aiohttp import web

from alerts.rulesfile import RulesConfig
from streams.web.alert_book import AlertBook, AlertRecord
from streams.web.burden import PatientDays, burden
from streams.web.clinical_models import (
    AboutOut,
    BurdenOut,
    BurdenWindow,
    HistoryEntryOut,
    LabPointOut,
    OrderOut,
    PatientAlertOut,
    PatientOut,
    ResolvedOut,
    Thresholds,
)
from streams.web.labtext import lab_text
from streams.web.patients import LabPoint, OrderBar, PatientBook, PatientRecord
from streams.web.plot import plot_svg

__all__ = ["RESOLVED_WINDOW", "ClinicalViews", "add_clinical_routes"]

#: How far back the recently-resolved list goes.
RESOLVED_WINDOW = timedelta(hours=24)


@dataclass
class ClinicalViews:
    """What the patient page and the burden panel read, besides the alert book."""

    patients: PatientBook = field(default_factory=PatientBook)
    rules: RulesConfig = field(default_factory=RulesConfig)
    tz: tzinfo = UTC
    notice: str | None = None
    census: PatientDays = field(init=False)

    def __post_init__(self) -> None:
        self.census = PatientDays(self.tz)

    def burden(self, book: AlertBook, now: datetime) -> BurdenOut:
        figures = burden(book.records(), self.census, now)
        return BurdenOut(at=now, windows=[BurdenWindow.model_validate(f.as_json()) for f in figures])


VIEWS_KEY = web.AppKey("clinical_views", ClinicalViews)
BOOK_KEY = web.AppKey("alert_book", AlertBook)


def _json(model: PatientOut | ResolvedOut | BurdenOut | AboutOut) -> web.Response:
    return web.Response(body=orjson.dumps(model.model_dump(mode="json")), content_type="application/json")


def _not_found(detail: str) -> web.Response:
    body = orjson.dumps({"error": "not_found", "detail": detail})
    return web.Response(body=body, status=404, content_type="application/json")


def _lab_out(point: LabPoint) -> LabPointOut:
    if point.sent_value is not None and point.sent_unit:
        text: str | None = lab_text(point.analyte, point.sent_value, point.sent_unit)
    elif point.value is not None:
        text = lab_text(point.analyte, point.value, "mmol/L")
    else:
        text = None
    return LabPointOut(
        result_id=point.result_id,
        analyte=point.analyte,
        value=point.value,
        sent_value=point.sent_value,
        sent_unit=point.sent_unit,
        text=text,
        collected_at=point.collected_at,
        status=point.status,
        withdrawn=point.withdrawn,
    )


def _order_out(order: OrderBar) -> OrderOut:
    return OrderOut(
        order_id=order.order_id,
        display=order.display,
        classes=list(order.classes),
        status=order.status,
        start=order.start,
        end=order.end,
        dose=order.dose,
        route=order.route,
    )


def _visit(
    record: PatientRecord | None, alerts: list[AlertRecord], asked: str | None
) -> tuple[str | None, list[LabPoint], list[OrderBar]]:
    """The chosen visit (asked for, else the latest alert's, else the latest seen) and its items."""
    encounter = asked
    if encounter is None and alerts:
        encounter = alerts[-1].view.encounter_id
    if encounter is None and record is not None:
        encounter = record.encounter_id
    if record is None:
        return encounter, [], []
    labs = sorted(record.labs.values(), key=lambda p: p.collected_at)
    orders = sorted(record.orders.values(), key=lambda o: o.start)
    if encounter is not None:
        labs = [p for p in labs if p.encounter_id == encounter]
        orders = [o for o in orders if o.encounter_id == encounter]
    return encounter, labs, orders


def _lookup(request: web.Request) -> tuple[str, PatientRecord | None, list[AlertRecord]] | None:
    """The patient of the path, what the page knows of them, and their alerts; None when nothing."""
    patient_id = request.match_info["patient_id"]
    record = request.app[VIEWS_KEY].patients.get(patient_id)
    alerts = request.app[BOOK_KEY].for_patient(patient_id)
    if record is None and not alerts:
        return None
    return patient_id, record, alerts


async def get_patient(request: web.Request) -> web.Response:
    found = _lookup(request)
    if found is None:
        return _not_found("no results, orders or alerts of this patient")
    patient_id, record, alerts = found
    views = request.app[VIEWS_KEY]
    encounter, labs, orders = _visit(record, alerts, request.query.get("encounter") or None)
    location = record.location if record is not None else None
    if alerts and alerts[-1].view.location is not None:
        location = alerts[-1].view.location
    rules = views.rules
    plot = f"/api/patients/{quote(patient_id, safe='')}/plot.svg"
    if encounter is not None:
        plot += f"?encounter={quote(encounter, safe='')}"
    encounters = record.encounters() if record is not None else []
    body = PatientOut(
        patient_id=patient_id,
        encounter_id=encounter,
        encounters=encounters,
        location=location,
        labs=[_lab_out(p) for p in labs],
        orders=[_order_out(o) for o in orders],
        alerts=[
            PatientAlertOut(
                alert=a.view, history=[HistoryEntryOut(seq=h.seq, event=h.event) for h in a.history]
            )
            for a in reversed(alerts)
        ],
        thresholds=Thresholds(
            potassium_low=rules.thresholds.potassium_low,
            magnesium_low=rules.thresholds.magnesium_low,
            potassium_high_below=rules.severity.high.potassium_below,
            magnesium_high_below=rules.severity.high.magnesium_below,
            potassium_critical_below=rules.severity.critical.potassium_below,
            magnesium_critical_below=rules.severity.critical.magnesium_below,
        ),
        plot=plot,
    )
    return _json(body)


async def get_patient_plot(request: web.Request) -> web.Response:
    found = _lookup(request)
    if found is None:
        return _not_found("no results, orders or alerts of this patient")
    _, record, alerts = found
    views = request.app[VIEWS_KEY]
    _, labs, orders = _visit(record, alerts, request.query.get("encounter") or None)
    svg = plot_svg(labs, orders, views.rules, views.tz, now=datetime.now(UTC))
    return web.Response(body=svg, content_type="image/svg+xml", headers={"Cache-Control": "no-store"})


async def get_resolved(request: web.Request) -> web.Response:
    since = datetime.now(UTC) - RESOLVED_WINDOW
    return _json(ResolvedOut(since=since, alerts=request.app[BOOK_KEY].recently_resolved(since)))


async def get_burden(request: web.Request) -> web.Response:
    return _json(request.app[VIEWS_KEY].burden(request.app[BOOK_KEY], datetime.now(UTC)))


async def get_about(request: web.Request) -> web.Response:
    views = request.app[VIEWS_KEY]
    zone = getattr(views.tz, "key", str(views.tz))
    return _json(AboutOut(notice=views.notice, hospital_tz=zone, rules_version=views.rules.rules_version))


def add_clinical_routes(app: web.Application, views: ClinicalViews, book: AlertBook) -> None:
    app[VIEWS_KEY] = views
    app[BOOK_KEY] = book
    router = app.router
    router.add_get("/api/patients/{patient_id}", get_patient, allow_head=False)
    router.add_get("/api/patients/{patient_id}/plot.svg", get_patient_plot, allow_head=False)
    router.add_get("/api/resolved", get_resolved, allow_head=False)
    router.add_get("/api/burden", get_burden, allow_head=False)
    router.add_get("/api/about", get_about, allow_head=False)
