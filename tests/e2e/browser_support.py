"""Helpers of the dashboard's browser tests: Chromium, a dashboard process with its own topics, sign-in."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.ports import free_port
from tests.support.processes import REPO, Process, WorkerEnv, wait_until_ready

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "browser-test-token"
T = TypeVar("T")


def launch_browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


def env_factory(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Callable[[], WorkerEnv]:
    """A LYTEWATCH_* environment with this test's own topics, app id and dashboard port and token."""

    def make() -> WorkerEnv:
        return WorkerEnv(
            bootstrap=kafka_bootstrap,
            prefix=unique_name("dash"),
            data_dir=tmp_path / "worker",
            extra={
                "LYTEWATCH_DASHBOARD_PORT": str(free_port()),
                "LYTEWATCH_DASHBOARD_AUTH": "token",
                "LYTEWATCH_DASHBOARD_TOKEN": TOKEN,
            },
        )

    return make


def in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a Kafka helper: Playwright's sync API owns this thread's event loop, so use another thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def dashboard_url(env: WorkerEnv) -> str:
    return f"http://127.0.0.1:{env.extra['LYTEWATCH_DASHBOARD_PORT']}"


def start_dashboard(env: WorkerEnv, log_path: Path) -> Process:
    process = Process(["dashboard"], env.environ(), log_path)
    wait_until_ready(process, dashboard_url(env))
    return process


def sign_in(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#token-dialog")).to_be_visible()
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#conn")).to_contain_text("Live")


def card(page: Page, alert_id: str) -> Any:
    return page.locator(f'article.alert[data-alert-id="{alert_id}"]')


# A page on another site that tries to acknowledge: a text/plain form and a no-cors fetch (issue 10).
ATTACKER_PAGE = """<!doctype html><title>prize</title>
<form id="f" method="POST" action="{ack}" enctype="text/plain" target="sink">
<input name='{{"by": "attacker-form", "note": "' value='"}}'></form>
<iframe name="sink" id="sink"></iframe>
<script>
fetch("{ack}", {{method: "POST", mode: "no-cors", body: '{{"by": "attacker-fetch", "note": null}}'}})
  .then(() => {{ document.title += " fetched"; }}, () => {{ document.title += " fetched"; }});
document.getElementById("sink").onload = () => {{ document.title += " posted"; }};
document.getElementById("f").submit();
</script>"""


def page_handler(html: str) -> type[BaseHTTPRequestHandler]:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    return Page


@contextlib.contextmanager
def attacker_site(ack_url: str) -> Iterator[str]:
    """Serve ATTACKER_PAGE aimed at `ack_url`; yield its address on localhost (not the site 127.0.0.1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), page_handler(ATTACKER_PAGE.format(ack=ack_url)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


Record = tuple[bytes, bytes]


def critical_kmg_inputs(pid: str, unit: str) -> tuple[Record, list[Record]]:
    """(key, value) of a furosemide order, and of K 2.4 and Mg 1.1 mg/dL an hour ago: a critical alert."""
    now = datetime.now(UTC).replace(microsecond=0)
    order = {
        "order_id": f"ORD-{pid}",
        "patient_id": pid,
        "medication": {
            "code": "4603",
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "display": "furosemide 40 mg IV",
        },
        "status": "active",
        "start": (now - timedelta(hours=6)).isoformat(),
        "recorded_at": (now - timedelta(hours=6)).isoformat(),
    }
    collected = (now - timedelta(hours=1)).isoformat()
    location = {"unit": unit, "room": "4", "bed": "A"}
    labs = [
        {"result_id": f"K-{pid}", "patient_id": pid, "code": "2823-3", "system": "http://loinc.org",
         "value": 2.4, "unit": "mmol/L", "collected_at": collected, "location": location},
        {"result_id": f"MG-{pid}", "patient_id": pid, "code": "19123-9", "system": "http://loinc.org",
         "value": 1.1, "unit": "mg/dL", "collected_at": collected, "location": location},
    ]  # fmt: skip
    key = pid.encode()
    return (key, orjson.dumps(order)), [(key, orjson.dumps(lab)) for lab in labs]
