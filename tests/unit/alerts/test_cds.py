"""CDS Hooks cards from a patient's state: order-sign warnings by drug, value and age; patient-view cards."""

from __future__ import annotations

import pytest

from alerts.cds import ORDER_SIGN, DraftOrder, discovery, order_cards, patient_view_cards
from alerts.codes import load_code_mapping
from alerts.patient_view import PatientView, describe
from alerts.rulesfile import RulesConfig
from tests.support.edges import assert_cds_response

from .conftest import PATIENT, Hours, MakeAdt, MakeLab, MakeOrder, MakeRun

MAPPING = load_code_mapping(None)
RULES = RulesConfig()


def draft(text: str, code: str | None = None, authored: object = None) -> DraftOrder:
    """A draft order classified by the built-in medication mapping, as the CDS edge classifies it."""
    ingredients = MAPPING.classify(code=code, system="RXNORM" if code else None, display=text)
    return DraftOrder(order_id="draft-1", display=text, ingredients=ingredients, authored_at=authored)  # type: ignore[arg-type]


def cards_json(cards: list[object]) -> list[dict[str, object]]:
    body = {"cards": [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in cards]}  # type: ignore[attr-defined]
    return assert_cds_response(body)


@pytest.fixture
def low_k_and_mg(run: MakeRun, k: MakeLab, mg: MakeLab, hours: Hours) -> PatientView:
    r = run()
    r.feed(k(3.1, hours(9)), mg(0.55, hours(9)))
    return describe(PATIENT, r.current, RULES)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Furosemide 40 mg IV", None),
        ("furosemide", "4603"),
        ("Hydrochlorothiazide 25 mg tablet", None),
        ("Lasix 20 mg tablet", None),
        ("Maxzide 75/50 (triamterene / hydrochlorothiazide)", None),
        ("Acetazolamide 250 mg", None),
    ],
)
def test_a_wasting_diuretic_with_low_k_and_mg_gets_one_warning(
    low_k_and_mg: PatientView, text: str, code: str | None
) -> None:
    (card,) = cards_json(order_cards(low_k_and_mg, [draft(text, code)], RULES))
    assert card["indicator"] == "warning"
    assert str(card["summary"]).startswith("K 3.1 mmol/L and Mg 0.55 mmol/L low: ")
    detail = str(card["detail"])
    assert "Potassium 3.1 mmol/L (**low**, threshold 3.5), collected 2026-03-02 09:00 UTC" in detail
    assert "Check and replete magnesium" in detail and "potassium replacement alone may fail" in detail
    assert [r["code"] for r in card["overrideReasons"]][:2] == ["replacement-ordered", "values-rechecked"]  # type: ignore[index]
    assert card["source"] == {"label": "lytewatch (rules 2026.1)"}


def test_spironolactone_and_potassium_get_no_card(low_k_and_mg: PatientView) -> None:
    assert order_cards(low_k_and_mg, [draft("Spironolactone 25 mg")], RULES) == []
    assert order_cards(low_k_and_mg, [draft("Potassium chloride 20 mEq")], RULES) == []


def test_normal_values_get_no_card(run: MakeRun, k: MakeLab, mg: MakeLab, hours: Hours) -> None:
    r = run()
    r.feed(k(4.1, hours(9)), mg(0.85, hours(9)))
    assert order_cards(describe(PATIENT, r.current, RULES), [draft("Furosemide 40 mg")], RULES) == []


def test_a_patient_never_seen_gets_no_card() -> None:
    view = describe("MRN-NEW", None, RULES)
    assert view.known is False
    assert order_cards(view, [draft("Furosemide 40 mg")], RULES) == []


def test_critical_tier_values_make_the_card_critical(
    run: MakeRun, k: MakeLab, mg: MakeLab, hours: Hours
) -> None:
    r = run()
    r.feed(k(3.2, hours(9)), mg(0.45, hours(9)))
    (card,) = cards_json(order_cards(describe(PATIENT, r.current, RULES), [draft("Bumex 1 mg")], RULES))
    assert card["indicator"] == "critical"
    assert str(card["summary"]).startswith("K 3.2 mmol/L and Mg 0.45 mmol/L low")


def test_only_mg_low_still_warns_and_says_k_is_not_low(
    run: MakeRun, k: MakeLab, mg: MakeLab, hours: Hours
) -> None:
    r = run()
    r.feed(k(3.9, hours(9)), mg(0.62, hours(9)))
    (card,) = cards_json(order_cards(describe(PATIENT, r.current, RULES), [draft("Furosemide")], RULES))
    assert card["indicator"] == "warning"
    assert str(card["summary"]).startswith("Mg 0.62 mmol/L low")
    assert "Potassium 3.9 mmol/L (not low" in str(card["detail"])


def test_low_k_without_recent_mg_warns_and_suggests_a_magnesium_level(
    run: MakeRun, k: MakeLab, mg: MakeLab, hours: Hours
) -> None:
    r = run()
    # A Mg four days old: outside the 72 h window, so "no Mg measured in 72 h".
    r.feed(mg(0.9, hours(0)), k(3.2, hours(4 * 24)))
    warning, info = cards_json(order_cards(describe(PATIENT, r.current, RULES), [draft("Furosemide")], RULES))
    assert warning["indicator"] == "warning" and str(warning["summary"]).startswith("K 3.2 mmol/L low")
    assert info["indicator"] == "info"
    assert info["summary"] == "K 3.2 mmol/L and no magnesium in 72 h: order a Mg level"


def test_stale_values_neither_warn_nor_reassure(
    run: MakeRun, k: MakeLab, mg: MakeLab, order: MakeOrder, hours: Hours
) -> None:
    r = run()
    r.feed(k(3.0, hours(9)), mg(0.5, hours(9)))
    view = describe(PATIENT, r.current, RULES)
    # Judged at the draft's authoredOn three days later: K (48 h) and Mg (72 h) are both out of window.
    later = draft("Furosemide", authored=hours(9 + 73))
    assert order_cards(view, [later], RULES) == []
    # The same draft authored the next morning still warns, and says how old the values are.
    (card,) = order_cards(view, [draft("Furosemide", authored=hours(9 + 20))], RULES)
    assert "20 h old" in card.detail


def test_patient_view_has_one_card_per_open_alert_with_indicator_by_severity(
    run: MakeRun, k: MakeLab, mg: MakeLab, order: MakeOrder, adt: MakeAdt, hours: Hours
) -> None:
    r = run()
    r.feed(adt("admit", hours(7)), order("furosemide", hours(8)), k(3.1, hours(9)), mg(0.55, hours(9)))
    view = describe(PATIENT, r.current, RULES)
    assert [(a.rule.value, a.severity.value) for a in view.open_alerts] == [("KMG_COMBINED", "high")]
    (card,) = cards_json(patient_view_cards(view, RULES, "https://lytewatch.example.org"))
    alert = view.open_alerts[0]
    assert card["indicator"] == "warning"
    assert card["summary"] == "High: K 3.1 mmol/L and Mg 0.55 mmol/L on furosemide (loop diuretic)"
    assert card["links"] == [
        {
            "label": "Open this alert in lytewatch",
            "url": f"https://lytewatch.example.org/#/alerts/{alert.alert_id}",
            "type": "absolute",
        }
    ]
    assert card["source"]["label"] == "lytewatch (rules 2026.1)"  # type: ignore[index]
    assert card["source"]["topic"]["code"] == "KMG_COMBINED"  # type: ignore[index]
    detail = str(card["detail"])
    assert "| Potassium | 3.1 mmol/L |" in detail and "| Magnesium | 0.55 mmol/L |" in detail
    assert "furosemide (loop diuretic), order O-furosemide, since 2026-03-02 08:00 UTC" in detail


def test_advisory_and_critical_alerts_map_to_info_and_critical(
    run: MakeRun, k: MakeLab, mg: MakeLab, order: MakeOrder, hours: Hours
) -> None:
    advisory = run()
    advisory.feed(order("furosemide", hours(8)), k(3.2, hours(9)))
    (card,) = patient_view_cards(describe(PATIENT, advisory.current, RULES), RULES, "http://x")
    assert card.indicator == "info" and card.summary.startswith("Advisory: K 3.2 mmol/L and no Mg")
    critical = run()
    critical.feed(order("furosemide", hours(8)), k(2.4, hours(9)), mg(0.6, hours(9)))
    (card,) = patient_view_cards(describe(PATIENT, critical.current, RULES), RULES, "http://x")
    assert card.indicator == "critical"


def test_the_state_view_names_latest_values_diuretics_and_times(
    run: MakeRun, k: MakeLab, mg: MakeLab, order: MakeOrder, hours: Hours
) -> None:
    r = run()
    r.feed(order("furosemide", hours(8)), k(3.4, hours(6)), k(3.1, hours(9)), mg(0.55, hours(9)))
    view = describe(PATIENT, r.current, RULES)
    assert view.clock == hours(9)
    assert view.potassium is not None and (view.potassium.value, view.potassium.collected_at) == (
        3.1,
        hours(9),
    )
    assert [(d.ingredient, d.drug_class.value) for d in view.diuretics] == [("furosemide", "loop")]
    assert PatientView.model_validate_json(view.model_dump_json()) == view


def test_discovery_lists_the_services_with_their_hooks() -> None:
    services = discovery()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [
        ("lytewatch-patient-view", "patient-view"),
        (ORDER_SIGN, "order-sign"),
        ("lytewatch-order-select", "order-select"),
    ]
