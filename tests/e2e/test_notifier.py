"""The notifier end to end: real broker, real local webhook/PagerDuty-style and SMTP receivers."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiokafka import TopicPartition

from alerts.models import AlertEvent
from streams.kafka import consumer as kafka_consumer
from streams.settings import Settings
from tests.e2e.notifier_support import (
    DASHBOARD,
    FAST_RETRY,
    Harness,
    MailBox,
    WebhookServer,
    hook,
    kinds,
    now_alert,
)
from tests.support.kafka import consume, create_topics, produce
from tests.support.ports import free_port
from tests.support.processes import Process
from tests.support.waiting import async_eventually
from tests.unit.notifier.alert_factory import build_alert

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.asyncio]

# --- behaviour -----------------------------------------------------------------------------------------


async def test_alerts_go_to_the_receiver_their_unit_rule_and_severity_select(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]], webhook: WebhookServer
) -> None:
    h = await start_notifier(
        {
            "receivers": [hook("icu", webhook), hook("critical", webhook), hook("ward", webhook)],
            "route": {
                "receivers": ["ward"],
                "routes": [
                    {"unit": "ICU", "receivers": ["icu"]},
                    {"rule": "KMG_COMBINED", "severity": "critical", "receivers": ["critical"]},
                ],
            },
        }
    )
    await h.send(
        now_alert("kmg-icu", location={"unit": "ICU", "bed": "2"}),
        now_alert("kmg-crit", severity="critical"),
        now_alert("kmg-ward"),
        now_alert("kmg-advisory", rule="KMG_CHECK_MG", severity="advisory"),
    )
    await async_eventually(lambda: len(webhook.answered) >= 3, "three deliveries")
    assert kinds(webhook.on("/icu")) == [("kmg-icu", 1, "trigger")]
    assert kinds(webhook.on("/critical")) == [("kmg-crit", 1, "trigger")]
    # The advisory alert was read before kmg-ward (same partition, same key) and went nowhere.
    assert kinds(webhook.on("/ward")) == [("kmg-ward", 1, "trigger")]
    ward = webhook.on("/ward")[0]["alert"]
    assert ward["link"] == f"{DASHBOARD}/#/alerts/kmg-ward"
    assert "patient_id" not in ward and "MRN0001" not in json.dumps(webhook.on("/ward"))


async def test_an_alert_resolved_within_group_wait_is_never_sent(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]], webhook: WebhookServer
) -> None:
    h = await start_notifier(
        {"group_wait": "1s", "receivers": [hook("ward", webhook)], "route": {"receivers": ["ward"]}}
    )
    await h.send(
        now_alert("kmg-blip"),
        now_alert("kmg-blip", 2, offset=0.3, event="resolved", reason="normalized"),
        # Due after the blip would have been: once it is delivered, the blip's moment has passed.
        now_alert("kmg-control", offset=0.1),
    )
    await async_eventually(lambda: len(webhook.answered) >= 1, "the control alert")
    # The control was due after the blip would have been, so the blip, had it been planned, was queued no
    # later than the control: once nothing is queued or in flight, nothing more about it can come.
    await async_eventually(lambda: h.service.deliveries_in_flight == 0, "no delivery in flight")
    assert kinds(webhook.on("/ward")) == [("kmg-control", 1, "trigger")]


async def test_unacknowledged_alerts_repeat_and_escalate_until_acknowledged(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]], webhook: WebhookServer
) -> None:
    h = await start_notifier(
        {
            "receivers": [hook("primary", webhook), hook("backup", webhook)],
            "route": {
                "receivers": ["primary", "backup"],
                "escalate_after": "400ms",
                "repeat_interval": "300ms",
            },
        }
    )
    await h.send(now_alert("kmg-1"))
    await async_eventually(lambda: ("kmg-1", 1, "escalate") in kinds(webhook.on("/backup")), "escalation")
    await async_eventually(
        lambda: sum(k == "repeat" for _, _, k in kinds(webhook.on("/primary"))) >= 2, "two repeats"
    )
    await h.send(now_alert("kmg-1", 2, event="acknowledged", acknowledged_by="rn7"))
    await h.send(now_alert("kmg-1", 3, offset=0.5, event="resolved", reason="normalized"))

    def resolved_on(path: str) -> Callable[[], bool]:
        return lambda: any(k == "resolve" for _, _, k in kinds(webhook.on(path)))

    for path in ("/primary", "/backup"):
        await async_eventually(resolved_on(path), f"the resolve on {path}")
    primary = [k for _, _, k in kinds(webhook.on("/primary"))]
    assert primary[0] == "trigger"
    assert primary[-2:] == ["acknowledge", "resolve"]
    assert set(primary[1:-2]) == {"repeat"}  # reminders only between the page and the ack
    numbers = [b["repeat"] for b in webhook.on("/primary") if b["notification"] == "repeat"]
    assert numbers == sorted(set(numbers))  # each reminder once, in order
    backup = [k for _, _, k in kinds(webhook.on("/backup"))]
    assert backup[0] == "escalate"
    assert backup[-2:] == ["acknowledge", "resolve"]


async def test_pagerduty_gets_trigger_acknowledge_and_resolve_keyed_by_alert_id(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]], webhook: WebhookServer
) -> None:
    pd = {"name": "pd", "type": "pagerduty", "routing_key": "R0UT1NG", "url": webhook.url("/v2/enqueue")}
    h = await start_notifier({"receivers": [pd], "route": {"receivers": ["pd"]}})
    await h.send(now_alert("kmg-pd", severity="high"))
    await async_eventually(lambda: len(webhook.answered) == 1, "the trigger")
    await h.send(
        now_alert("kmg-pd", 2, event="acknowledged", severity="high", acknowledged_by="rn7"),
        now_alert("kmg-pd", 3, event="resolved", severity="high", reason="normalized"),
    )
    await async_eventually(lambda: len(webhook.answered) == 3, "acknowledge and resolve")
    trigger, ack, resolve = webhook.on("/v2/enqueue")
    assert trigger["event_action"] == "trigger"
    assert (trigger["routing_key"], trigger["dedup_key"]) == ("R0UT1NG", "kmg-pd")
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["source"] == "lytewatch"
    assert "KMG_COMBINED" in trigger["payload"]["summary"]
    assert trigger["payload"]["custom_details"]["values"]["potassium"]["value"] == 3.1
    assert ack == {"routing_key": "R0UT1NG", "event_action": "acknowledge", "dedup_key": "kmg-pd"}
    assert resolve == {"routing_key": "R0UT1NG", "event_action": "resolve", "dedup_key": "kmg-pd"}


async def test_transient_failures_are_retried_until_delivered(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]], webhook: WebhookServer
) -> None:
    webhook.script("/flaky", 500, 503, 200)
    webhook.script("/busy", (429, {"Retry-After": "0"}), 200)
    h = await start_notifier(
        {
            "receivers": [hook("flaky", webhook), hook("busy", webhook)],
            "routes": [{"receivers": ["flaky"], "continue": True}, {"receivers": ["busy"]}],
        }
    )
    await h.send(now_alert("kmg-retry"))
    await async_eventually(lambda: len(webhook.answered) == 2, "both deliveries")
    attempts = Counter(r.path for r in webhook.requests)
    assert attempts == {"/flaky": 3, "/busy": 2}
    # Every attempt is the same delivery, so a receiver could drop duplicates by its id.
    assert {r.headers["Idempotency-Key"] for r in webhook.requests if r.path == "/flaky"} == {
        "flaky|kmg-retry|1|trigger"
    }
    records = await h.topic(h.settings.topic_notifier_log, expected=2)
    by_receiver = {r["receiver"]: r for r in records}
    assert by_receiver["flaky"]["outcome"] == "delivered"
    assert by_receiver["flaky"]["attempts"] == 3
    assert by_receiver["busy"]["attempts"] == 2


async def test_permanent_failures_and_exhausted_retries_go_to_the_dead_letter_topic(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]], webhook: WebhookServer
) -> None:
    webhook.script("/bad", 400)
    webhook.script("/down", 503, 503, 503, 503)
    h = await start_notifier(
        {
            "receivers": [hook("bad", webhook), hook("down", webhook)],
            "routes": [{"receivers": ["bad"], "continue": True}, {"receivers": ["down"]}],
        }
    )
    await h.send(now_alert("kmg-dlq"))
    letters = await h.topic(h.settings.topic_notifier_deadletter, expected=2)
    by_receiver = {letter["receiver"]: letter for letter in letters}
    assert set(by_receiver) == {"bad", "down"}
    bad, down = by_receiver["bad"], by_receiver["down"]
    assert (bad["status"], bad["retriable"], bad["attempts"]) == (400, False, 1)
    assert bad["reason"] == "HTTP 400"
    assert json.loads(bad["response"]) == {"status": "no"}
    assert AlertEvent.model_validate(bad["alert"]).alert_id == "kmg-dlq"
    assert (down["status"], down["retriable"], down["attempts"]) == (503, True, FAST_RETRY["max_attempts"])
    assert Counter(r.path for r in webhook.requests) == {"/bad": 1, "/down": 4}
    # Recorded in the delivery log too, so a restart does not try them again.
    records = await h.topic(h.settings.topic_notifier_log, expected=2)
    assert {r["outcome"] for r in records} == {"dead_lettered"}


async def test_email_arrives_over_smtp(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]],
    smtp_server: Callable[..., tuple[MailBox, int]],
) -> None:
    box, port = smtp_server()
    mail = {
        "name": "mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from": "lytewatch@hospital.test",
        "to": ["charge-nurse@hospital.test"],
    }
    h = await start_notifier({"receivers": [mail], "route": {"receivers": ["mail"]}})
    await h.send(now_alert("kmg-mail", severity="critical"))
    await async_eventually(lambda: len(box.messages) == 1, "the e-mail")
    sender, recipients, content = box.messages[0]
    text = content.decode()
    assert (sender, recipients) == ("lytewatch@hospital.test", ["charge-nurse@hospital.test"])
    assert "Subject: [lytewatch] New alert: CRITICAL KMG_COMBINED (unit 4W bed A)" in text
    assert f"link: {DASHBOARD}/#/alerts/kmg-mail" in text
    assert "MRN0001" not in text


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made with the openssl command."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    made = subprocess.run(
        [*command, "-keyout", str(key), "-out", str(cert)], capture_output=True, check=False
    )
    if made.returncode != 0:
        # Fail, never skip: the STARTTLS path would go untested. Debian's openssl package provides it.
        why = made.stderr.decode(errors="replace")[-500:]
        pytest.fail(f"openssl could not make a test certificate (install Debian's openssl): {why}")
    return cert, key


async def test_email_uses_starttls_when_configured(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]],
    smtp_server: Callable[..., tuple[MailBox, int]],
    tls_cert: tuple[Path, Path],
) -> None:
    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box, port = smtp_server(tls_context=context, require_starttls=True)
    mail = {
        "name": "mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "starttls": True,
        "ca_file": str(cert),
        "from": "lytewatch@hospital.test",
        "to": ["oncall@hospital.test"],
    }
    h = await start_notifier({"receivers": [mail], "route": {"receivers": ["mail"]}})
    await h.send(now_alert("kmg-tls"))
    await async_eventually(lambda: len(box.messages) == 1, "the e-mail over STARTTLS")
    assert "kmg-tls" in box.messages[0][2].decode()


# --- crash: SIGKILL while delivering, restart, nothing twice -------------------------------------------


async def _committed_to_end(settings: Settings, group: str) -> bool:
    probe = kafka_consumer(settings, group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        tps = [TopicPartition(settings.topic_alerts, p) for p in range(settings.partitions)]
        ends = await probe.end_offsets(tps)
        committed = [await probe.committed(tp) or 0 for tp in tps]
        return all(c >= ends[tp] for c, tp in zip(committed, tps, strict=True))
    finally:
        await probe.stop()


def _burst() -> tuple[list[AlertEvent], Counter[tuple[str, str, int, str]]]:
    """500 transitions: 200 alerts open for a minute (every 4th critical), 50 resolved within group_wait.

    Their times lie in the past, so every timer is already due when read: the outcome then depends only
    on the events, never on how fast the notifier reads them, and is known here in advance.
    """
    base = datetime.now(UTC) - timedelta(minutes=30)
    alerts: list[AlertEvent] = []
    expected: Counter[tuple[str, str, int, str]] = Counter()
    for i in range(250):
        alert_id, fired = f"kmg-burst-{i:03d}", base + timedelta(seconds=i)
        lasting = i < 200
        severity = "critical" if lasting and i % 4 == 0 else "high"
        resolved = fired + timedelta(seconds=60 if lasting else 0.05)
        common = {"alert_id": alert_id, "severity": severity, "patient_id": f"MRN{i:04d}"}
        alerts.append(build_alert(**common, revision=1, emitted_at=fired.isoformat()))
        alerts.append(
            build_alert(
                **common, revision=2, event="resolved", reason="normalized", emitted_at=resolved.isoformat()
            )
        )
        if lasting:
            expected.update([("/ops", alert_id, 1, "trigger"), ("/ops", alert_id, 2, "resolve")])
            if severity == "critical":
                expected.update([("/pd", alert_id, 1, "trigger"), ("/pd", alert_id, 2, "resolve")])
    return alerts, expected


def _delivered(server: WebhookServer) -> Counter[tuple[str, str, int, str]]:
    seen: Counter[tuple[str, str, int, str]] = Counter()
    for r in server.answered:
        if r.path == "/ops":
            seen[(r.path, r.body["alert_id"], r.body["revision"], r.body["notification"])] += 1
        else:
            action = {"trigger": "trigger", "resolve": "resolve"}[r.body["event_action"]]
            # PagerDuty messages carry no revision; the delivery id header (set for webhooks) is absent,
            # so the revision follows from the action: trigger = 1, resolve = 2 in this burst.
            seen[(r.path, r.body["dedup_key"], 1 if action == "trigger" else 2, action)] += 1
    return seen


@pytest.fixture
def notifier_logs(tmp_path: Path) -> Iterator[Path]:
    """Where the notifier subprocesses write stderr; shown with a failure's report."""
    yield tmp_path
    for log_file in sorted(tmp_path.glob("notifier-*.log")):
        print(f"--- {log_file.name} (tail)\n{log_file.read_text(errors='replace')[-4000:]}")


@pytest.mark.slow
async def test_a_notifier_killed_while_delivering_sends_nothing_twice_after_restart(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    webhook: WebhookServer,
    notifier_logs: Path,
) -> None:
    tmp_path = notifier_logs
    routes = {
        "group_wait": "200ms",
        "repeat_interval": None,
        "escalate_after": None,
        "retry": FAST_RETRY,
        "receivers": [
            hook("ops", webhook),
            {"name": "pd", "type": "pagerduty", "routing_key": "R1", "url": webhook.url("/pd")},
        ],
        "routes": [
            {"severity": "critical", "receivers": ["pd"], "continue": True},
            {"receivers": ["ops"]},
        ],
    }
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(yaml.safe_dump(routes))
    app_id = unique_name("app")
    env = {
        **os.environ,
        "LYTEWATCH_BROKER": f"kafka://{kafka_bootstrap}",
        "LYTEWATCH_APP_ID": app_id,
        "LYTEWATCH_PARTITIONS": "3",
        "LYTEWATCH_TOPIC_ALERTS": unique_name("alerts"),
        "LYTEWATCH_TOPIC_NOTIFIER_LOG": unique_name("notify-log"),
        "LYTEWATCH_TOPIC_NOTIFIER_DEADLETTER": unique_name("notify-dlq"),
        "LYTEWATCH_NOTIFIER_WEB_PORT": str(free_port()),
        "LYTEWATCH_LOG_LEVEL": "INFO",
    }
    settings = Settings(
        broker=env["LYTEWATCH_BROKER"],
        partitions=3,
        topic_alerts=env["LYTEWATCH_TOPIC_ALERTS"],
        topic_notifier_log=env["LYTEWATCH_TOPIC_NOTIFIER_LOG"],
    )
    await create_topics(kafka_bootstrap, [settings.topic_alerts], partitions=3)
    alerts, expected = _burst()
    assert len(alerts) == 500 and sum(expected.values()) == 500
    await produce(
        kafka_bootstrap,
        settings.topic_alerts,
        [(a.patient_id.encode(), a.model_dump_json().encode()) for a in alerts],
    )

    def launch(run: int) -> Process:
        args = ["notifier", "--routes", str(routes_file), "--from-beginning"]
        return Process(args, env, tmp_path / f"notifier-{run}.log")

    # Run 1: stop answering after 150 deliveries; once those 150 are in the delivery log, SIGKILL it
    # while the next requests hang. (A kill between a receiver's 2xx and the log write is the one window
    # left; this test keeps it shut on purpose so that "exactly once" can be asserted; see NOTIFIER.md.)
    webhook.hold_after = 150
    first = launch(1)
    try:
        await async_eventually(
            lambda: len(webhook.answered) >= 150, "150 deliveries before the kill", within=90
        )
        await h_log_count(kafka_bootstrap, settings.topic_notifier_log, 150)
        await async_eventually(lambda: len(webhook.requests) > 150, "deliveries in flight at the kill")
    finally:
        first.kill()
    assert len(webhook.answered) == 150, "the receiver answered after it was told to hold"
    before_kill = Counter(r.path for r in webhook.answered)

    # Run 2: the same group, a fresh process. It must deliver the rest and nothing already logged.
    webhook.hold_after = None
    webhook.released.set()
    second = launch(2)
    try:
        await async_eventually(
            lambda: len(webhook.answered) >= 500, "all 500 deliveries after the restart", within=120
        )
        group = f"{app_id}-notifier"
        await async_eventually(
            lambda: _committed_to_end(settings, group),
            "the restarted notifier to commit the burst",
            interval=0.2,
        )
        metrics = await _scrape(int(env["LYTEWATCH_NOTIFIER_WEB_PORT"]))
    finally:
        # In a thread: this event loop serves the webhook the notifier may still be talking to.
        await asyncio.to_thread(second.stop)

    # The restarted process counted exactly what it sent, and its metrics name no patient.
    sent = 'lytewatch_notifications_total{outcome="delivered",receiver_type="%s"}'
    assert metrics[sent % "webhook"] == 400 - before_kill["/ops"]
    assert metrics[sent % "pager"] == 100 - before_kill["/pd"]
    assert not any("MRN" in series for series in metrics)
    delivered = _delivered(webhook)
    assert set(delivered) == set(expected)
    assert [(key, n) for key, n in delivered.items() if n != 1] == []
    # Nothing was sent for the 50 alerts resolved within group_wait.
    assert not any(
        r.body.get("alert_id", r.body.get("dedup_key", "")) >= "kmg-burst-200" for r in webhook.requests
    )


async def _scrape(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def h_log_count(bootstrap: str, topic: str, expected: int) -> None:
    records = await consume(bootstrap, topic, expected=expected, timeout=60)
    assert len(records) >= expected, f"only {len(records)} delivery-log records"
