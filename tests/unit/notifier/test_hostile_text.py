"""Text from the feed stays text in every outbound format: no markup, no header injection, bounded."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pytest

from alerts.models import AlertEvent
from alerts.notifier.delivery import DeliveryError
from alerts.notifier.messages import (
    FIELD_MAX,
    email_message,
    pagerduty_event,
    slack_payload,
    webhook_payload,
)
from alerts.notifier.policy import Notification, NotificationKind
from alerts.notifier.routing import RetryPolicy
from alerts.text import REPLACEMENT, first_unsafe, inert, slack_escape
from streams.notifier.deliver import deliver
from tests.unit.notifier.alert_factory import BASE_TIME

URL = "https://lytewatch.example.org"
FIELDS = ["unit", "room", "bed", "rule", "severity", "values", "acknowledged_by", "summary", "link"]

#: The findings of issue 10, as they would arrive in a location or an ack's `by`.
HOSTILE = {
    "crlf-bcc": "4W\r\nBcc: x@example.org",
    "lf-header": "4W\nX-Injected: yes",
    "u2028": "4W\u2028Bcc: y@example.org",
    "slack-mention": "<!channel>",
    "slack-link": "<http://evil.example|Click to view results>",
    "ampersand-entity": "A&amp;B &lt;",
    "rtl-override": "MRN\u202e0021",
    "nul-and-tab": "4W\x00\tbed",
    "huge": "W" * 50_000,
}


def note_with(text: str, kind: NotificationKind = NotificationKind.TRIGGER) -> Notification:
    alert = AlertEvent.model_validate(
        {
            "alert_id": "kmg-hostile",
            "revision": 2,
            "event": "acknowledged" if kind is NotificationKind.ACKNOWLEDGE else "fired",
            "rule": "KMG_COMBINED",
            "rules_version": "1",
            "severity": "high",
            "patient_id": "MRN1",
            "location": {"unit": text, "room": text, "bed": text},
            "acknowledged_by": text,
            "summary": "K 2.9 mmol/L and Mg 0.55 mmol/L on furosemide (loop diuretic)",
            "recommendation": "Replete magnesium.",
            "evidence": {
                "potassium": {"value": 2.9, "collected_at": BASE_TIME.isoformat(), "result_id": "K"}
            },
            "event_time": BASE_TIME.isoformat(),
        }
    )
    return Notification("r", kind, alert, BASE_TIME + timedelta(seconds=30))


def no_unsafe(text: str) -> None:
    assert first_unsafe(text) is None, f"unsafe character in {text[:80]!r}"


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_slack_text_has_no_markup_but_our_link(text: str) -> None:
    body = slack_payload(note_with(text), FIELDS, URL)["text"]
    no_unsafe(body.replace("\n", " "))  # our own line breaks only
    # The one `<...>` left is the link we built; nothing from the data opens a mention or a link.
    assert body.count("<") == 1
    assert body.count(">") == 1
    assert body.rstrip().endswith(f"<{URL}/#/alerts/kmg-hostile|Open alert kmg-hostile>")
    if "<!channel>" in text:
        assert "&lt;!channel&gt;" in body
    if "&amp;" in text:
        assert "&amp;amp;" in body  # shown as typed, not as an entity


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("kind", [NotificationKind.TRIGGER, NotificationKind.ACKNOWLEDGE])
def test_email_headers_and_body_lines_come_only_from_us(text: str, kind: NotificationKind) -> None:
    message = email_message(note_with(text, kind), FIELDS, URL, "lw@h.test", ["rn@h.test"])
    raw = message.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    ours = ["Subject", "From", "To", "X-Lytewatch-Delivery"]
    mime = ["Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
    assert sorted(parsed.keys()) == sorted(ours + mime)
    no_unsafe(str(parsed["Subject"]))
    body = parsed.get_content()
    field_names = {*FIELDS, "alert id"}
    for line in body.splitlines():
        # Every body line is ours: blank, the headline, a `field: value` line, or the alert id line.
        head = line.partition(":")[0]
        assert not line or head in field_names or line == body.splitlines()[0], f"injected line {line!r}"
        no_unsafe(line)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_pagerduty_summary_and_webhook_title_are_inert_and_bounded(text: str) -> None:
    note = note_with(text)
    summary = pagerduty_event(note, "key", "lytewatch", FIELDS, URL)["payload"]["summary"]
    no_unsafe(summary)
    assert len(summary) <= 1024
    document = webhook_payload(note, FIELDS, URL)
    no_unsafe(document["title"])
    for name in ("unit", "room", "bed", "acknowledged_by"):
        value = document["alert"][name]
        no_unsafe(value)
        assert len(value) <= FIELD_MAX


def test_inert_marks_what_it_replaced_and_cuts_with_an_ellipsis() -> None:
    assert inert("4W\r\nBcc") == f"4W{REPLACEMENT}{REPLACEMENT}Bcc"
    assert inert("MRN\u202e0021") == f"MRN{REPLACEMENT}0021"
    assert inert("abcdef", 4) == "abc\u2026"
    assert inert("Zimmer 3 Bett 2 (Süd) 病棟") == "Zimmer 3 Bett 2 (Süd) 病棟"  # ordinary text untouched
    assert slack_escape("a & <b>") == "a &amp; &lt;b&gt;"


class BrokenReceiver:
    """Raises what a library raises on a message it refuses (e.g. email's header check)."""

    name = "broken"
    type = "email"

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, notification: Notification) -> None:
        self.calls += 1
        raise ValueError("Header values may not contain linefeed or carriage return characters")


@pytest.mark.asyncio
async def test_a_message_a_library_refuses_is_a_permanent_delivery_error_not_a_crash() -> None:
    receiver = BrokenReceiver()
    with pytest.raises(DeliveryError) as caught:
        await deliver(receiver, note_with("4W"), RetryPolicy())
    assert caught.value.retriable is False
    assert str(caught.value) == "message not deliverable (ValueError)"
    assert caught.value.body is not None and "linefeed" in caught.value.body
    assert receiver.calls == 1  # not retried: it would fail the same way
