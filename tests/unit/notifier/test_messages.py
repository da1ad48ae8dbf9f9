"""Message payloads: PagerDuty Events v2 shapes, the minimum fields by default, no patient id."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from alerts.models import AlertEvent
from alerts.notifier.messages import (
    email_message,
    message_fields,
    pagerduty_event,
    slack_payload,
    webhook_payload,
)
from alerts.notifier.policy import Notification, NotificationKind
from alerts.notifier.routing import DEFAULT_FIELDS
from tests.unit.notifier.alert_factory import BASE_TIME

URL = "https://lytewatch.example.org/"
MakeNote = Callable[..., Notification]


@pytest.fixture
def make_note(make_alert: Callable[..., AlertEvent]) -> MakeNote:
    def make(kind: NotificationKind = NotificationKind.TRIGGER, **alert: object) -> Notification:
        return Notification("pd", kind, make_alert(**alert), BASE_TIME + timedelta(seconds=30))

    return make


def test_default_fields_are_the_minimum_with_a_link(make_note: MakeNote) -> None:
    fields = message_fields(make_note().alert, DEFAULT_FIELDS, URL)
    assert fields == {
        "unit": "4W",
        "bed": "A",
        "rule": "KMG_COMBINED",
        "severity": "moderate",
        "values": {
            "potassium": {"value": 3.1, "unit": "mmol/L"},
            "magnesium": {"value": 0.62, "unit": "mmol/L"},
        },
        "link": "https://lytewatch.example.org/#/alerts/kmg-0001",
    }


def test_no_payload_carries_the_patient_id_unless_configured(make_note: MakeNote) -> None:
    note = make_note()
    rendered = [
        json.dumps(webhook_payload(note, DEFAULT_FIELDS, URL)),
        json.dumps(slack_payload(note, DEFAULT_FIELDS, URL)),
        json.dumps(pagerduty_event(note, "rk", "lytewatch", DEFAULT_FIELDS, URL)),
        email_message(note, DEFAULT_FIELDS, URL, "a@x", ["b@x"]).as_string(),
    ]
    for text in rendered:
        assert "MRN0001" not in text
        assert "E42" not in text
    opted_in = webhook_payload(note, [*DEFAULT_FIELDS, "patient_id"], URL)
    assert opted_in["alert"]["patient_id"] == "MRN0001"


@pytest.mark.parametrize(
    ("severity", "pd_severity"),
    [("critical", "critical"), ("high", "error"), ("moderate", "warning"), ("advisory", "info")],
)
def test_pagerduty_trigger_shape(make_note: MakeNote, severity: str, pd_severity: str) -> None:
    event = pagerduty_event(make_note(severity=severity), "rk-1", "lytewatch", DEFAULT_FIELDS, URL)
    assert event["routing_key"] == "rk-1"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "kmg-0001"
    payload = event["payload"]
    assert payload["severity"] == pd_severity
    assert payload["source"] == "lytewatch"
    assert "4W" in payload["summary"] and "K 3.1 mmol/L" in payload["summary"]
    assert payload["custom_details"]["rule"] == "KMG_COMBINED"
    assert event["links"][0]["href"].endswith("/#/alerts/kmg-0001")


@pytest.mark.parametrize(
    ("kind", "action"),
    [(NotificationKind.ACKNOWLEDGE, "acknowledge"), (NotificationKind.RESOLVE, "resolve")],
)
def test_pagerduty_acknowledge_and_resolve_carry_only_the_keys(
    make_note: MakeNote, kind: NotificationKind, action: str
) -> None:
    event = pagerduty_event(make_note(kind), "rk-1", "lytewatch", DEFAULT_FIELDS, URL)
    assert event == {"routing_key": "rk-1", "event_action": action, "dedup_key": "kmg-0001"}


@pytest.mark.parametrize(
    "kind", [NotificationKind.REPEAT, NotificationKind.ESCALATE, NotificationKind.SEVERITY]
)
def test_every_page_kind_is_a_pagerduty_trigger(make_note: MakeNote, kind: NotificationKind) -> None:
    assert pagerduty_event(make_note(kind), "rk", "s", DEFAULT_FIELDS, URL)["event_action"] == "trigger"


def test_fields_control_what_messages_show(make_note: MakeNote) -> None:
    note = make_note()
    text = slack_payload(note, ["rule", "severity"], URL)["text"]
    assert "KMG_COMBINED" in text
    assert "4W" not in text and "mmol/L" not in text and "http" not in text


def test_webhook_document_identifies_the_delivery(make_note: MakeNote) -> None:
    doc = webhook_payload(
        make_note(NotificationKind.RESOLVE, revision=3, event="resolved", reason="normalized"),
        DEFAULT_FIELDS,
        URL,
    )
    assert doc["delivery_id"] == "pd|kmg-0001|3|resolve"
    assert (doc["notification"], doc["status"], doc["revision"]) == ("resolve", "resolved", 3)
    assert "[normalized]" in doc["title"]


def test_email_subject_and_body(make_note: MakeNote) -> None:
    message = email_message(
        make_note(severity="critical"), DEFAULT_FIELDS, URL, "lw@x.org", ["a@x.org", "b@x.org"]
    )
    assert message["Subject"].startswith("[lytewatch] New alert: CRITICAL KMG_COMBINED (unit 4W bed A)")
    assert message["To"] == "a@x.org, b@x.org"
    body = message.get_content()
    assert "values: K 3.1 mmol/L, Mg 0.62 mmol/L" in body
    assert "link: https://lytewatch.example.org/#/alerts/kmg-0001" in body
