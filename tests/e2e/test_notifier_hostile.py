"""Hostile text through the real notifier to real local receivers: it arrives inert, nothing stops paging."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from alerts.text import first_unsafe
from tests.e2e.notifier_support import Harness, MailBox, WebhookServer, hook, kinds, now_alert
from tests.support.kafka import produce
from tests.support.waiting import async_eventually
from tests.unit.notifier.test_hostile_text import HOSTILE

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.asyncio]

FIELDS = ["unit", "room", "bed", "rule", "severity", "values", "acknowledged_by", "link"]
NURSE = "charge-nurse@hospital.test"


def inert(text: str, where: str) -> None:
    found = first_unsafe(text)
    assert found is None, f"{where}: unsafe {found[1] if found else ''} in {text[:120]!r}"


def mail_receiver(port: int) -> dict[str, Any]:
    address = {"from": "lytewatch@hospital.test", "to": [NURSE]}
    return {"name": "mail", "type": "email", "host": "127.0.0.1", "port": port, **address}


async def test_the_same_hostile_strings_arrive_inert_at_every_receiver(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]],
    webhook: WebhookServer,
    smtp_server: Callable[..., tuple[MailBox, int]],
) -> None:
    box, port = smtp_server()
    slack = {"name": "chat", "type": "slack", "url": webhook.url("/slack")}
    pager = {"name": "pd", "type": "pagerduty", "routing_key": "R", "url": webhook.url("/pd")}
    names = ["hook", "chat", "pd", "mail"]
    h = await start_notifier(
        {
            "fields": FIELDS,
            "receivers": [hook("hook", webhook), slack, pager, mail_receiver(port)],
            "routes": [{"receivers": [name], "continue": True} for name in names],
        }
    )
    ids = {f"kmg-{case}": text for case, text in HOSTILE.items()}
    place = {"unit": "", "room": "", "bed": ""}
    await h.send(*(now_alert(i, location={k: t for k in place}) for i, t in ids.items()))
    await async_eventually(lambda: len(webhook.answered) >= 3 * len(ids), "every trigger over HTTP")
    await async_eventually(lambda: len(box.messages) >= len(ids), "every trigger by e-mail")
    acks = [
        now_alert(i, 2, event="acknowledged", acknowledged_by=t, location={k: t for k in place})
        for i, t in ids.items()
    ]
    await h.send(*acks)
    await async_eventually(lambda: len(webhook.answered) >= 6 * len(ids), "every acknowledgement over HTTP")
    await async_eventually(lambda: len(box.messages) >= 2 * len(ids), "every acknowledgement by e-mail")

    for body in webhook.on("/hook"):
        inert(body["title"], "webhook title")
        for name in ("unit", "room", "bed", "acknowledged_by"):
            if name in body["alert"]:
                inert(body["alert"][name], f"webhook {name}")
                assert len(body["alert"][name]) <= 200
    for body in webhook.on("/slack"):
        text = body["text"]
        for line in text.split("\n"):
            inert(line, "slack line")
        # Our link is the only markup: no mention, no foreign link survives as markup.
        assert text.count("<") == 1, text[:300]
        assert "<!channel>" not in text
        assert "<http://evil.example" not in text
    for body in webhook.on("/pd"):
        if body["event_action"] == "trigger":
            inert(body["payload"]["summary"], "pagerduty summary")
            assert len(body["payload"]["summary"]) <= 1024
    for _sender, recipients, content in box.messages:
        assert recipients == [NURSE]  # an injected Bcc would have added a recipient
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert "Bcc" not in parsed and "X-Injected" not in parsed
        inert(str(parsed["Subject"]), "e-mail subject")
        for line in parsed.get_content().splitlines():
            inert(line, "e-mail body line")
            assert not line.startswith(("Bcc:", "X-Injected:")), line
    assert h.service.ready.is_set()


async def test_records_that_are_not_alert_events_are_dead_lettered_and_paging_goes_on(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]],
    webhook: WebhookServer,
    smtp_server: Callable[..., tuple[MailBox, int]],
) -> None:
    box, port = smtp_server()
    h = await start_notifier(
        {
            "receivers": [hook("hook", webhook), mail_receiver(port)],
            "routes": [{"receivers": ["hook"], "continue": True}, {"receivers": ["mail"]}],
        }
    )
    forged = now_alert("kmg-ok").model_dump(mode="json") | {"alert_id": "kmg-x|y\r\nBcc: x@example.org"}
    bad = [
        (b"MRN1", b"\xff\xfe not json"),
        (b"MRN1", json.dumps({"alert_id": "kmg-1"}).encode()),
        (b"MRN1", json.dumps(forged).encode()),
    ]
    await produce(h.bootstrap, h.settings.topic_alerts, bad)
    # The CRLF-in-unit finding: the e-mail library refused the Subject and the notifier died on it.
    await h.send(now_alert("kmg-crlf", location={"unit": "4W\r\nBcc: x@example.org", "bed": "1"}))
    await h.send(now_alert("kmg-after", location={"unit": "5E", "bed": "2"}))

    letters = await h.topic(h.settings.topic_notifier_deadletter, expected=3)
    reasons = sorted((letter["reason"], letter["offset"]) for letter in letters)
    assert [r for r, _ in reasons] == ["not_json", "schema_error", "schema_error"]
    details = " ".join(letter["detail"] for letter in letters)
    assert "revision: Field required" in details and "alert_id: only letters" in details
    assert {letter["topic"] for letter in letters} == {h.settings.topic_alerts}

    await async_eventually(lambda: len(box.messages) >= 2, "both e-mails")
    await async_eventually(lambda: len(webhook.answered) >= 2, "both webhooks")
    subjects = sorted(
        str(email.message_from_bytes(c, policy=email.policy.default)["Subject"]) for _, _, c in box.messages
    )
    assert subjects == [
        "[lytewatch] New alert: MODERATE KMG_COMBINED (unit 4W\ufffd\ufffdBcc: x@example.org bed 1) "
        "- K 3.1 mmol/L, Mg 0.62 mmol/L",
        "[lytewatch] New alert: MODERATE KMG_COMBINED (unit 5E bed 2) - K 3.1 mmol/L, Mg 0.62 mmol/L",
    ]
    assert all(recipients == [NURSE] for _, recipients, _ in box.messages)
    assert h.service.ready.is_set()


async def test_an_ack_storm_is_one_acknowledge_per_receiver_and_severity(
    start_notifier: Callable[[dict[str, Any]], Awaitable[Harness]], webhook: WebhookServer
) -> None:
    pager = {"name": "pd", "type": "pagerduty", "routing_key": "R", "url": webhook.url("/pd")}
    h = await start_notifier(
        {"receivers": [hook("hook", webhook), pager], "routes": [{"receivers": ["hook", "pd"]}]}
    )
    await h.send(now_alert("kmg-storm", severity="high"))
    await async_eventually(lambda: len(webhook.answered) >= 1, "the trigger")
    # What the engine emits for 500 acks alternating two names: 500 `acknowledged` revisions.
    storm = [
        now_alert("kmg-storm", 2 + i, event="acknowledged", severity="high", acknowledged_by=f"rn{i % 2}")
        for i in range(500)
    ]
    await h.send(*storm)
    await h.send(now_alert("kmg-storm", 502, event="escalated", severity="critical", acknowledged_by="rn1"))
    await h.send(
        now_alert("kmg-storm", 503, event="acknowledged", severity="critical", acknowledged_by="rn0"),
        now_alert("kmg-storm", 504, event="resolved", severity="critical", reason="normalized"),
    )
    await async_eventually(
        lambda: any(k == "resolve" for _, _, k in kinds(webhook.on("/hook"))), "the resolve"
    )
    assert kinds(webhook.on("/hook")) == [
        ("kmg-storm", 1, "trigger"),
        ("kmg-storm", 2, "acknowledge"),
        ("kmg-storm", 502, "severity"),
        ("kmg-storm", 503, "acknowledge"),
        ("kmg-storm", 504, "resolve"),
    ]
    # The route's second receiver is an escalation level; it was never paged, so it heard nothing.
    assert webhook.on("/pd") == []
