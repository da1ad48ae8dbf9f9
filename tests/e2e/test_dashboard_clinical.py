"""The clinician's view in Chromium: criticals first, the deep link, the patient page, resolved, phone."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser_support import (
    ARTIFACTS,
    TOKEN,
    card,
    dashboard_url,
    in_thread,
    sign_in,
    start_dashboard,
)
from tests.e2e.dashboard_support import alert_event, produce_alerts
from tests.support.kafka import create_topics, produce
from tests.support.ports import free_port
from tests.support.processes import LYTEWATCH, REPO, Process, WorkerEnv, http_get, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _ids(page: Page) -> list[str]:
    return [a.get_attribute("data-alert-id") or "" for a in page.locator("#board article.alert").all()]


def _no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    # From the top: a full-page shot of a scrolled page repeats the sticky bar in the middle.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_criticals_first_across_wards_acks_apart_filters_remembered_banner_and_resolved(
    browser: Browser, make_env: Callable[[], WorkerEnv], tmp_path: Path
) -> None:
    env = make_env()
    alerts_topic = env.topics["alerts"]
    in_thread(create_topics(env.bootstrap, [alerts_topic, env.topics["acks"]], partitions=2))
    acked_crit = alert_event("a-5e-crit-ack", severity="critical", k=2.4, unit="5E", room="3", bed="A")
    acked_high = alert_event("a-4w-high-ack", severity="high", k=2.9, unit="4W", room="2", bed="A")
    events = [
        alert_event("a-4w-mod", severity="moderate", k=3.0, mg=0.6, unit="4W", room="1", bed="A"),
        alert_event(
            "a-4w-adv", severity="advisory", rule="KMG_CHECK_MG", mg=None, unit="4W", room="5", bed="B"
        ),
        acked_crit,
        {**acked_crit, "revision": 2, "event": "acknowledged", "acknowledged_by": "RN Kim"},
        alert_event("a-icu-crit", severity="critical", k=2.3, unit="ICU", room="7", bed="A"),
        alert_event("a-6n-high", severity="high", k=2.8, unit="6N", room="4", bed="C"),
        acked_high,
        {**acked_high, "revision": 2, "event": "acknowledged", "acknowledged_by": "RN Lee"},
    ]
    in_thread(produce_alerts(env.bootstrap, alerts_topic, events))
    dashboard = start_dashboard(env, tmp_path / "dashboard.log")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        url = dashboard_url(env)
        sign_in(page, url)
        # What needs a person now, across wards: unacked critical, unacked high; then acked criticals,
        # acked highs (below the unacked of their severity), then the rest.
        expected = ["a-icu-crit", "a-6n-high", "a-5e-crit-ack", "a-4w-high-ack", "a-4w-mod", "a-4w-adv"]
        expect(page.locator("#board article.alert")).to_have_count(6)
        assert _ids(page) == expected
        expect(page.locator('section.group[data-group="now"] article.alert')).to_have_count(2)
        expect(page.locator("#counts")).to_have_text(
            "6 open · 2 need action now (1 critical, 1 high) · 2 acknowledged"
        )
        expect(card(page, "a-5e-crit-ack")).to_contain_text("ACKNOWLEDGED")
        # Numbers as labs print them: K to one decimal, Mg to two, units always shown.
        expect(card(page, "a-4w-mod").locator(".lab-value")).to_have_text(["3.0", "0.60"])
        expect(card(page, "a-4w-mod").locator(".lab-unit")).to_have_text(["mmol/L", "mmol/L"])
        expect(card(page, "a-4w-mod").locator(".lab-sent")).to_have_text("(1.46 mg/dL as sent)")
        _shot(page, "dashboard-urgent.png")

        # "By ward" and the ward filter are remembered by the browser.
        page.click("#view-ward")
        expect(page.locator("section.unit h2").first).to_contain_text("ICU")
        page.select_option("#ward-filter", "4W")
        expect(page.locator("#board article.alert")).to_have_count(3)
        page.reload()
        expect(page.locator("#conn")).to_contain_text("Live")
        expect(page.locator("section.unit")).to_have_count(1)
        expect(page.locator("#view-ward")).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#ward-filter")).to_have_value("4W")
        page.click("#view-urgent")

        # A new critical on a ward the filter hides: the banner's link clears the filter and shows the card.
        new = alert_event("a-4w-crit-new", severity="critical", k=2.2, unit="ICU", room="9", bed="B")
        in_thread(produce_alerts(env.bootstrap, alerts_topic, [new]))
        expect(page.locator("#critical-banner")).to_be_visible()
        expect(page.locator("#critical-banner")).to_contain_text("ICU · Bed 9-B")
        page.click("#critical-show")
        expect(page.locator("#ward-filter")).to_have_value("")
        expect(card(page, "a-4w-crit-new")).to_be_in_viewport()
        expect(card(page, "a-4w-crit-new")).to_be_focused()
        assert _ids(page)[:2] == ["a-icu-crit", "a-4w-crit-new"]

        # Resolved alerts leave the board with their reason in the recently-resolved list.
        resolved = alert_event("a-4w-mod", 2, "resolved", severity="moderate", unit="4W", room="1", bed="A")
        advisory = {"severity": "advisory", "rule": "KMG_CHECK_MG", "mg": None, "unit": "4W", "room": "5"}
        superseded = {**alert_event("a-4w-adv", 2, "resolved", bed="B", **advisory), "reason": "superseded"}
        in_thread(produce_alerts(env.bootstrap, alerts_topic, [resolved, superseded]))
        expect(card(page, "a-4w-mod")).to_have_count(0)
        expect(page.locator("#resolved-count")).to_have_text("2")
        page.click("#resolved summary")
        item = page.locator('#resolved-list li[data-alert-id="a-4w-mod"]')
        expect(item).to_contain_text("K and Mg back above the thresholds (normalized)")
        expect(page.locator('#resolved-list li[data-alert-id="a-4w-adv"]')).to_contain_text("superseded")
        page.click("#burden summary")
        expect(page.locator("#burden-body table")).to_be_visible()
        _shot(page, "dashboard-resolved.png")

        # A phone: one column, both criticals first, no sideways scrolling.
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        sign_in(phone, url)
        expect(phone.locator("#board article.alert")).to_have_count(5)
        assert _ids(phone)[:2] == ["a-icu-crit", "a-4w-crit-new"]
        assert _no_horizontal_scroll(phone)
        second = phone.locator("#board article.alert").nth(1).bounding_box()
        assert second is not None and second["y"] < 1200, second
        _shot(phone, "dashboard-phone-urgent.png")
        phone.close()
    finally:
        page.close()
        dashboard.stop()


def _iso(at: datetime) -> str:
    return at.isoformat()


def _api(url: str, path: str) -> Any:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_patient_page_from_a_notification_link_shows_the_trend_orders_and_history(
    browser: Browser, make_env: Callable[[], WorkerEnv], tmp_path: Path
) -> None:
    """P-CRIT1 of the issue: K 3.6 -> 3.3 -> 2.9 -> 2.3 over 24 h on furosemide, then K and Mg replaced."""
    env = make_env()
    subprocess.run([*LYTEWATCH, "topics", "create"], env=env.environ(), cwd=REPO, check=True, timeout=120)
    now = datetime.now(UTC).replace(microsecond=0)
    pid, loc = "P-CRIT1", {"unit": "MICU", "room": "4", "bed": "A"}

    def lab(rid: str, code: str, value: float, unit: str, hours_ago: float) -> dict[str, Any]:
        return {"result_id": rid, "patient_id": pid, "encounter_id": "V1", "code": code,
                "system": "http://loinc.org", "value": value, "unit": unit,
                "collected_at": _iso(now - timedelta(hours=hours_ago)), "location": loc}  # fmt: skip

    def order(oid: str, display: str, dose: str, route: str, hours_ago: float) -> dict[str, Any]:
        start = _iso(now - timedelta(hours=hours_ago))
        medication = {"display": display}
        return {"order_id": oid, "patient_id": pid, "encounter_id": "V1", "medication": medication,
                "dose": dose, "route": route, "status": "active", "start": start,
                "recorded_at": start}  # fmt: skip

    labs = [
        lab("K1", "2823-3", 3.6, "mmol/L", 24),
        lab("MG1", "19123-9", 1.4, "mg/dL", 24),
        lab("K2", "2823-3", 3.3, "mEq/L", 16),
        lab("K3", "2823-3", 2.9, "mmol/L", 8),
        lab("K4", "2823-3", 2.3, "mmol/L", 1),
    ]
    orders = [
        order("O-FUROS", "furosemide 40 mg IV", "40 mg", "IV", 30),
        order("O-KCL", "potassium chloride 40 mEq PO", "40 mEq", "PO", 15),
        order("O-MG", "magnesium sulfate 2 g IV", "2 g", "IV", 15),
    ]
    key = pid.encode()
    with running_worker(env, tmp_path / "worker.log"):
        dashboard = start_dashboard(env, tmp_path / "dashboard.log")
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        try:
            url = dashboard_url(env)
            in_thread(
                produce(env.bootstrap, env.topics["orders"], [(key, orjson.dumps(o)) for o in orders[:1]])
            )
            in_thread(produce(env.bootstrap, env.topics["labs"], [(key, orjson.dumps(x)) for x in labs[:3]]))
            in_thread(
                produce(env.bootstrap, env.topics["orders"], [(key, orjson.dumps(o)) for o in orders[1:]])
            )
            in_thread(produce(env.bootstrap, env.topics["labs"], [(key, orjson.dumps(x)) for x in labs[3:]]))
            sign_in(page, url)
            alert = page.locator("#board article.alert").first
            expect(alert.locator(".badge")).to_have_text("CRITICAL", timeout=20000)
            # The card says what was given: the diuretic's dose and route, and the K and Mg replacement.
            expect(alert).to_contain_text("furosemide 40 mg IV (loop diuretic)")
            expect(alert.locator(".replacement")).to_have_text(
                [re.compile(r"^K replacement: potassium chloride 40 mEq PO \(40 mEq PO\)"),
                 re.compile(r"^Mg replacement: magnesium sulfate 2 g IV \(2 g IV\)")]
            )  # fmt: skip
            [listed] = _api(url, "/api/alerts")["alerts"]
            alert_id = listed["alert_id"]

            # The notification link opens the patient page with this alert's history in view.
            page.goto(f"{url}/#/alerts/{alert_id}")
            expect(page.locator("#patient-title")).to_have_text(f"Patient {pid}")
            expect(page.locator("#patient-view")).to_have_attribute("data-loaded", "true")
            expect(page.locator(f"#history-{alert_id}")).to_be_focused()
            points = page.locator("#plot circle")
            expect(points).to_have_count(5)
            plotted = {
                (
                    c.get_attribute("data-analyte"),
                    float(c.get_attribute("data-sent-value") or "nan"),
                    c.get_attribute("data-unit"),
                    datetime.fromisoformat(c.get_attribute("data-time") or ""),
                )
                for c in points.all()
            }
            sent = {
                ("potassium" if x["code"] == "2823-3" else "magnesium", x["value"], x["unit"],
                 datetime.fromisoformat(x["collected_at"]))
                for x in labs
            }  # fmt: skip
            assert plotted == sent
            # Each point is labelled with the value and unit as sent, in the lab's precision.
            expect(page.locator("#plot circle[data-result-id=K2]")).to_have_attribute(
                "aria-label", re.compile(r"^K 3\.3 mEq/L, collected .*")
            )
            expect(page.locator("#plot text").filter(has_text="1.4 mg/dL")).to_have_count(1)
            expect(page.locator("#plot line[data-threshold='3.5']")).to_have_count(1)
            bars = page.locator("#plot rect[data-order-id]")
            expect(bars).to_have_count(3)
            expect(page.locator("#plot rect[data-order-id=O-KCL]")).to_have_attribute(
                "aria-label", re.compile(r"^potassium chloride 40 mEq PO \(K replacement\) · 40 mEq · PO")
            )
            expect(page.locator("tr[data-order-id=O-MG]")).to_contain_text("2 g")
            history = page.locator(f"#history-{alert_id} tr[data-event]")
            expect(history.first).to_contain_text("fired")
            expect(page.locator(f"#history-{alert_id}")).to_contain_text("escalated")
            _shot(page, "patient-page.png")

            phone = browser.new_page(viewport={"width": 390, "height": 844})
            sign_in(phone, f"{url}/#/patients/{pid}")
            expect(phone.locator("#patient-view")).to_have_attribute("data-loaded", "true")
            assert _no_horizontal_scroll(phone)
            _shot(phone, "patient-page-phone.png")
            phone.close()

            # Acknowledged on the board: the history says who; K and Mg back: resolved, with the reason.
            page.goto(f"{url}/#/")
            card(page, alert_id).get_by_role("button", name="Acknowledge").click()
            page.fill("#name-input", "Nurse Ann")
            page.click("#name-form button[type=submit]")
            expect(card(page, alert_id)).to_contain_text("Acknowledged by Nurse Ann", timeout=20000)
            normal = [lab("K5", "2823-3", 4.1, "mmol/L", 0), lab("MG2", "2601-3", 0.85, "mmol/L", 0)]
            in_thread(produce(env.bootstrap, env.topics["labs"], [(key, orjson.dumps(x)) for x in normal]))
            expect(card(page, alert_id)).to_have_count(0, timeout=20000)
            page.click("#resolved summary")
            expect(page.locator(f'#resolved-list li[data-alert-id="{alert_id}"]')).to_contain_text(
                "normalized"
            )
            page.goto(f"{url}/#/patients/{pid}")
            expect(page.locator(f"#history-{alert_id}")).to_contain_text("by Nurse Ann")
            expect(page.locator(f"#history-{alert_id}")).to_contain_text("K and Mg back above the thresholds")
        finally:
            page.close()
            dashboard.stop()


def test_the_page_says_catching_up_not_no_alerts_until_the_snapshot_is_complete(
    browser: Browser, make_env: Callable[[], WorkerEnv], tmp_path: Path
) -> None:
    # A broker that does not answer: the dashboard serves the page but cannot read the alerts topic.
    env = make_env()
    env.bootstrap = f"127.0.0.1:{free_port()}"
    process = Process(["dashboard"], env.environ(), tmp_path / "dashboard.log")
    url = dashboard_url(env)
    page = browser.new_page()
    try:
        for _ in range(300):
            try:
                if http_get(f"{url}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            page.wait_for_timeout(100)
        page.goto(url)
        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        expect(page.locator("#conn")).to_contain_text("Catching up")
        expect(page.locator("#empty")).to_contain_text("Catching up")
        page.wait_for_timeout(2000)
        expect(page.locator("#conn")).not_to_contain_text("Live")
        expect(page.locator("#empty")).not_to_contain_text("No open alerts")
    finally:
        page.close()
        process.stop()
