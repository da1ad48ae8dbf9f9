"""The patient page's data: results and orders kept per patient, lab precision, the plot, burden, resolved."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from alerts.codes import load_code_mapping
from alerts.models import PatientEvent
from alerts.rulesfile import RulesConfig
from streams.codecs import InputKind, decode
from streams.web.alert_book import AlertBook
from streams.web.burden import PatientDays, burden
from streams.web.inputs import order_extras
from streams.web.labtext import lab_text
from streams.web.patients import PatientBook
from streams.web.plot import plot_svg
from tests.unit.web.conftest import T0, MakeEvent

SVG = "{http://www.w3.org/2000/svg}"


def _events(kind: InputKind, value: dict[str, object]) -> tuple[PatientEvent, ...]:
    return decode(kind, orjson.dumps(value), tz=UTC, mapping=load_code_mapping(None)).events


def _lab(
    result_id: str, code: str, value: float, unit: str, minutes: int, **extra: object
) -> dict[str, object]:
    at = (T0 + timedelta(minutes=minutes)).isoformat()
    return {
        "result_id": result_id,
        "patient_id": "P1",
        "encounter_id": "V1",
        "code": code,
        "value": value,
        "unit": unit,
        "collected_at": at,
        **extra,
    }


def _order(order_id: str, display: str, status: str = "active", **extra: object) -> dict[str, object]:
    return {
        "order_id": order_id,
        "patient_id": "P1",
        "encounter_id": "V1",
        "medication": {"display": display},
        "status": status,
        "start": T0.isoformat(),
        "recorded_at": T0.isoformat(),
        **extra,
    }


@pytest.fixture
def book() -> PatientBook:
    """P1's visit: K 3.6 -> 3.3 -> 2.9 (the last corrected to 3.0), Mg 1.56 mg/dL, one withdrawn K, orders."""
    patients = PatientBook()
    labs = [
        _lab("k1", "2823-3", 3.6, "mmol/L", 0),
        _lab("k2", "2823-3", 3.3, "mEq/L", 360),
        _lab("k3", "2823-3", 2.9, "mmol/L", 720),
        _lab("k3", "2823-3", 3.0, "mmol/L", 720, status="corrected"),
        _lab("k4", "2823-3", 2.1, "mmol/L", 800),
        _lab("k4", "2823-3", 2.1, "mmol/L", 800, status="entered-in-error"),
        _lab("m1", "19123-9", 1.56, "mg/dL", 720),
    ]
    for value in labs:
        for event in _events("labs", value):
            patients.apply(event)
    orders = [
        (_order("o1", "furosemide 40 mg IV", dose="40 mg", route="IV"), None),
        (_order("o2", "potassium chloride", dose="40 mEq", route="PO"), None),
        (_order("o3", "magnesium sulfate", status="cancelled"), None),
        (_order("o4", "heparin 5000 units SC"), None),
        (
            _order("o2", "potassium chloride", status="completed", end=(T0 + timedelta(hours=4)).isoformat()),
            None,
        ),
    ]
    for value, _ in orders:
        raw = orjson.dumps(value)
        for event in _events("orders", value):
            patients.apply(event, order_extras(raw))
    return patients


def test_results_are_kept_with_corrections_and_withdrawals_and_orders_with_dose_and_route(
    book: PatientBook,
) -> None:
    record = book.get("P1")
    assert record is not None
    assert {r: (p.value, p.sent_value, p.sent_unit, p.withdrawn) for r, p in record.labs.items()} == {
        "k1": (3.6, 3.6, "mmol/L", False),
        "k2": (3.3, 3.3, "mEq/L", False),
        "k3": (3.0, 3.0, "mmol/L", False),
        "k4": (None, 2.1, "mmol/L", True),
        "m1": (0.64, 1.56, "mg/dL", False),
    }
    # Heparin is not watched and the cancelled order was never given: neither is a bar.
    assert set(record.orders) == {"o1", "o2"}
    furosemide, kcl = record.orders["o1"], record.orders["o2"]
    assert (furosemide.classes, furosemide.dose, furosemide.route, furosemide.end) == (
        ("loop",),
        "40 mg",
        "IV",
        None,
    )
    # The completion carried no dose: the bar keeps what the first event said.
    assert (kcl.classes, kcl.dose, kcl.route) == (("potassium_replacement",), "40 mEq", "PO")
    assert kcl.end == T0 + timedelta(hours=4)
    assert record.encounters() == ["V1"]


def test_the_book_forgets_the_least_recently_updated_patient_beyond_its_bound() -> None:
    patients = PatientBook(max_patients=2, max_items=2)
    for n, patient in enumerate(["A", "B", "A", "C"]):
        for event in _events("labs", {**_lab(f"r{n}", "2823-3", 3.1, "mmol/L", n), "patient_id": patient}):
            patients.apply(event)
    assert (patients.get("A") is not None, patients.get("B"), patients.get("C") is not None) == (
        True,
        None,
        True,
    )
    assert len(patients) == 2


def test_fhir_dose_and_route_are_read_and_hl7_gives_none() -> None:
    fhir = {
        "resourceType": "MedicationRequest",
        "dosageInstruction": [
            {
                "route": {"coding": [{"display": "Intravenous"}]},
                "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "g"}}],
            }
        ],
    }
    extras = order_extras(orjson.dumps(fhir))
    assert (extras.dose, extras.route) == ("2 g", "Intravenous")
    assert order_extras(b"MSH|^~\\&|...") == order_extras(b"{}")


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "text"),
    [
        ("potassium", 3.0, "mmol/L", "3.0 mmol/L"),
        ("potassium", 3.25, "mmol/L", "3.25 mmol/L"),
        ("potassium", 4, "mEq/L", "4.0 mEq/L"),
        ("magnesium", 0.6, "mmol/L", "0.60 mmol/L"),
        ("magnesium", 0.62, "mmol/L", "0.62 mmol/L"),
        ("magnesium", 1.5, "mg/dL", "1.5 mg/dL"),
        ("magnesium", 1.56, "mg/dL", "1.56 mg/dL"),
    ],
)
def test_numbers_are_printed_as_labs_print_them(analyte: str, value: float, unit: str, text: str) -> None:
    assert lab_text(analyte, value, unit) == text


def test_the_plot_has_one_labelled_point_per_valid_result_thresholds_and_bars(book: PatientBook) -> None:
    record = book.get("P1")
    assert record is not None
    svg = ET.fromstring(
        plot_svg(list(record.labs.values()), list(record.orders.values()), RulesConfig(), UTC)
    )
    points = {
        c.get("data-result-id"): (
            c.get("data-value"),
            c.get("data-sent-value"),
            c.get("data-unit"),
            c.get("aria-label"),
        )
        for c in svg.iter(f"{SVG}circle")
    }
    assert points == {
        "k1": ("3.6", "3.6", "mmol/L", "K 3.6 mmol/L, collected 01 Mar 2026 10:00"),
        "k2": ("3.3", "3.3", "mEq/L", "K 3.3 mEq/L, collected 01 Mar 2026 16:00 (= 3.3 mmol/L)"),
        "k3": ("3.0", "3.0", "mmol/L", "K 3.0 mmol/L, collected 01 Mar 2026 22:00"),
        "m1": ("0.64", "1.56", "mg/dL", "Mg 1.56 mg/dL, collected 01 Mar 2026 22:00 (= 0.64 mmol/L)"),
    }
    thresholds = sorted(
        float(line.get("data-threshold", "0"))
        for line in svg.iter(f"{SVG}line")
        if line.get("data-threshold")
    )
    assert thresholds == [0.5, 0.6, 0.7, 2.5, 3.0, 3.5]
    bars = {
        r.get("data-order-id"): r.get("aria-label") for r in svg.iter(f"{SVG}rect") if r.get("data-order-id")
    }
    assert (
        bars["o1"] == "furosemide 40 mg IV (loop diuretic) · 40 mg · IV, from 01 Mar 2026 10:00 still running"
    )
    assert bars["o2"].startswith(
        "potassium chloride (K replacement) · 40 mEq · PO, from 01 Mar 2026 10:00 until"
    )


def test_burden_counts_alerts_per_100_patient_days_and_acknowledgement_within_15_min(
    make_event: MakeEvent,
) -> None:
    alerts = AlertBook()
    # a: acked after 10 min; b: escalated to critical, acked after 30 min; c: open 40 min, never acked;
    # d: opened 5 min before "now", not acked yet (not a miss yet); e: opened 8 days ago (in no window).
    alerts.apply(make_event("a", minutes=0))
    alerts.apply(make_event("a", 2, "acknowledged", minutes=10, acknowledged_by="rn"))
    alerts.apply(make_event("b", minutes=0))
    alerts.apply(make_event("b", 2, "escalated", severity="critical", minutes=5))
    alerts.apply(make_event("b", 3, "acknowledged", severity="critical", minutes=30, acknowledged_by="rn"))
    alerts.apply(make_event("c", minutes=0))
    alerts.apply(make_event("d", minutes=35, rule="KMG_CHECK_MG", severity="advisory"))
    alerts.apply(make_event("e", minutes=-8 * 24 * 60))
    census = PatientDays(UTC)
    for n in range(8):
        census.note(f"P{n}", T0)
    now = T0 + timedelta(minutes=40)
    day, week = burden(alerts.records(), census, now)
    assert (day.window, week.window) == ("24h", "7d")
    assert day.alerts == {
        ("KMG_COMBINED", "moderate"): 2,
        ("KMG_COMBINED", "critical"): 1,
        ("KMG_CHECK_MG", "advisory"): 1,
    }
    assert day.patient_days == 8
    assert day.per_100_patient_days[("KMG_COMBINED", "moderate")] == pytest.approx(25.0)
    assert (day.acked_within_target, day.ack_measured) == (1, 3)
    assert week.alerts == day.alerts


def test_recently_resolved_lists_the_last_24_hours_latest_first(make_event: MakeEvent) -> None:
    alerts = AlertBook()
    for n, minutes in enumerate([0, 60, 24 * 60 + 30]):
        alerts.apply(make_event(f"r{n}", minutes=minutes))
        alerts.apply(make_event(f"r{n}", 2, "resolved", minutes=minutes + 5, reason="discharged"))
    alerts.apply(make_event("open", minutes=0))
    now = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    resolved = alerts.recently_resolved(now - timedelta(hours=24))
    assert [(v.alert_id, v.reason.value if v.reason else None) for v in resolved] == [
        ("r2", "discharged"),
        ("r1", "discharged"),
    ]
    assert [a.view.alert_id for a in alerts.for_patient("MRN-r1")] == ["r1"]
