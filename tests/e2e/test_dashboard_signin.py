"""Sign-in with OpenID Connect in a real Chromium against a real OpenID provider (node-oidc-provider)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from streams.web.session import SESSION_COOKIE
from tests.e2e.browser_support import (
    attacker_site,
    card,
    critical_kmg_inputs,
    dashboard_url,
    in_thread,
    start_dashboard,
)
from tests.e2e.dashboard_support import alert_event, produce_alerts
from tests.support.kafka import consume, produce
from tests.support.oidc_provider import ACKNOWLEDGER, CLIENT_ID, VIEWER, running_provider
from tests.support.ports import free_port
from tests.support.processes import LYTEWATCH, REPO, WorkerEnv, http_get, running_worker

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

SESSION_SECRET = "0123456789abcdef" * 4


def _sign_in(context: BrowserContext, url: str, login: str) -> Page:
    """Open the dashboard; it sends the browser to the provider's login form; back signed in."""
    page = context.new_page()
    page.goto(url)
    # The provider's own development login form (any password), on its own site (localhost).
    expect(page.locator("input[name=login]")).to_be_visible()
    assert page.url.startswith("http://localhost:"), page.url
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    expect(page.locator("#conn")).to_contain_text("Live")
    assert page.url.startswith(url.split("#")[0]), page.url
    return page


def _post_ack(page: Page, alert_id: str, *, csrf: bool) -> Any:
    """POST an ack from the signed-in page itself, with or without the session's CSRF token."""
    script = """async ([alertId, withCsrf]) => {
        const me = await (await fetch("/auth/me")).json();
        const headers = {"Content-Type": "application/json"};
        if (withCsrf) headers["X-CSRF-Token"] = me.csrf_token;
        const response = await fetch(`/api/alerts/${alertId}/ack`,
            {method: "POST", headers, body: JSON.stringify({by: "Typed Name"})});
        return {status: response.status, body: await response.json()};
    }"""
    return page.evaluate(script, [alert_id, csrf])


def test_people_sign_in_with_the_identity_provider_and_acks_carry_who_they_are(
    browser: Browser, kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = WorkerEnv(bootstrap=kafka_bootstrap, prefix=unique_name("oidc"), data_dir=tmp_path / "worker")
    alerts, acks = env.topics["alerts"], env.topics["acks"]
    subprocess.run([*LYTEWATCH, "topics", "create"], env=env.environ(), cwd=REPO, check=True, timeout=120)
    # Two alerts as the engine publishes them (for the viewer and the refused requests); the acknowledger's
    # comes from the real worker below, so its acknowledgement goes through the engine.
    in_thread(
        produce_alerts(
            env.bootstrap,
            alerts,
            [alert_event("kmg-a", severity="critical", k=2.4), alert_event("kmg-b", severity="high")],
        )
    )
    with (
        running_provider(url, tmp_path / "provider.log") as provider,
        running_worker(env, tmp_path / "w.log"),
    ):
        env.extra = {
            "LYTEWATCH_DASHBOARD_PORT": str(port),
            "LYTEWATCH_DASHBOARD_PUBLIC_URL": url,
            "LYTEWATCH_DASHBOARD_AUTH": "oidc",
            "LYTEWATCH_DASHBOARD_OIDC_ISSUER": provider.issuer,
            "LYTEWATCH_DASHBOARD_OIDC_CLIENT_ID": CLIENT_ID,
            "LYTEWATCH_DASHBOARD_OIDC_SCOPES": "openid profile roles",
            "LYTEWATCH_DASHBOARD_SESSION_SECRET": SESSION_SECRET,
        }
        assert dashboard_url(env) == url
        dashboard = start_dashboard(env, tmp_path / "dashboard.log")
        viewer_context, acker_context = browser.new_context(), browser.new_context()
        try:
            # Without a session: the API answers 401 JSON, the page goes to sign-in.
            status, body = http_get(f"{url}/api/alerts")
            assert status == 401 and orjson.loads(body)["error"] == "unauthorized"

            # --- a viewer sees everything and cannot acknowledge ---
            # Through a notification link: after sign-in the page still opens that alert.
            viewer = _sign_in(viewer_context, f"{url}/#/alerts/kmg-a", VIEWER[0])
            expect(viewer).to_have_url(re.compile(r"#/patients/MRN-kmg-a\?alert=kmg-a"))
            viewer.click("a.back-link")
            expect(viewer.locator("#whoami-text")).to_have_text(
                f"Signed in as {VIEWER[1]} (viewer: cannot acknowledge)"
            )
            expect(viewer.locator("article.alert")).to_have_count(2)
            button = card(viewer, "kmg-a").get_by_role("button", name=re.compile("Acknowledge"))
            expect(button).to_be_disabled()
            expect(card(viewer, "kmg-a")).to_contain_text("Your role (viewer) cannot acknowledge alerts")
            refused = _post_ack(viewer, "kmg-a", csrf=True)
            assert refused["status"] == 403 and "viewer" in refused["body"]["detail"], refused
            # The session cookie is HttpOnly (no script reads it), Secure and SameSite=Strict.
            [session_cookie] = [c for c in viewer_context.cookies(url) if c["name"] == SESSION_COOKIE]
            assert (session_cookie["httpOnly"], session_cookie["secure"], session_cookie["sameSite"]) == (
                True,
                True,
                "Strict",
            )
            assert "lytewatch_session" not in viewer.evaluate("document.cookie")

            # --- an acknowledger: the stream runs on the cookie, with no token in any URL ---
            requested: list[str] = []
            acker_context.on("request", lambda request: requested.append(request.url))
            acker = _sign_in(acker_context, url, ACKNOWLEDGER[0])
            expect(acker.locator("#whoami-text")).to_have_text(f"Signed in as {ACKNOWLEDGER[1]}")
            streams = [u for u in requested if "/api/alerts/stream" in u]
            assert streams and not [u for u in requested if "token" in u.lower()], requested
            # A POST with the cookie but without the CSRF token is refused.
            no_csrf = _post_ack(acker, "kmg-b", csrf=False)
            assert no_csrf["status"] == 403 and no_csrf["body"]["error"] == "csrf", no_csrf
            # Another site's form (text/plain) and no-cors fetch, in the browser that is signed in.
            attack_page = acker_context.new_page()
            with attacker_site(f"{url}/api/alerts/kmg-b/ack") as attacker:
                attack_page.goto(attacker)
                expect(attack_page).to_have_title(re.compile("fetched"), timeout=20000)
                expect(attack_page).to_have_title(re.compile("posted"), timeout=20000)
            attack_page.close()
            # The worker raises an alert; acknowledge it from the page: no name is asked, and the
            # acknowledgement, the engine's `acknowledged` event and the alert's history name the person.
            order, labs = critical_kmg_inputs("MRN-OIDC-1", "ICU")
            in_thread(produce(env.bootstrap, env.topics["orders"], [order]))
            in_thread(produce(env.bootstrap, env.topics["labs"], labs))
            # K and Mg can reach the worker in separate batches: K alone first opens a "check Mg" alert, which
            # the Mg result then replaces by the combined alert (a new id). Wait for the combined one.
            worker_card = acker.locator(
                "article.alert",
                has=acker.locator(".where", has_text="ICU"),
                has_text="Combined K + Mg depletion",
            )
            expect(worker_card).to_be_visible(timeout=15000)
            alert_id = worker_card.get_attribute("data-alert-id")
            expect(acker.locator("#change-name")).to_be_hidden()
            worker_card.get_by_role("button", name=re.compile("Acknowledge")).click()
            expect(acker.locator("#name-dialog")).not_to_be_visible()
            expect(worker_card).to_contain_text("Acknowledged by Ada Acker (ada.acker)", timeout=15000)
            expect(card(viewer, str(alert_id))).to_contain_text("Acknowledged by Ada Acker (ada.acker)")
            records = in_thread(consume(env.bootstrap, acks, expected=2, timeout=3))
            produced = [(r.key, orjson.loads(r.value)["by"]) for r in records]
            assert produced == [(b"MRN-OIDC-1", "Ada Acker (ada.acker)")], produced
            history = acker.evaluate(
                "async (id) => (await (await fetch(`/api/alerts/${id}`)).json()).history", alert_id
            )
            acknowledged = [h["event"] for h in history if h["event"]["event"] == "acknowledged"]
            assert [e["acknowledged_by"] for e in acknowledged] == ["Ada Acker (ada.acker)"], history

            # --- sign-out ends the session here and at the provider ---
            acker.click("#sign-out")
            acker.get_by_role("button", name=re.compile("sign me out", re.IGNORECASE)).click()
            expect(acker.locator("h1")).to_have_text("Signed out")
            assert not [c for c in acker_context.cookies(url) if c["name"] == SESSION_COOKIE]
            acker.goto(url)
            expect(acker.locator("input[name=login]")).to_be_visible()
        finally:
            viewer_context.close()
            acker_context.close()
            dashboard.stop()
