"""What each receiver is sent (webhook JSON, Slack text, PagerDuty Events v2, e-mail), from chosen fields."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any, Final

from alerts.models import AlertEvent, AlertEventKind, LabEvidence, Severity
from alerts.notifier.policy import Notification, NotificationKind
from alerts.text import inert, slack_escape

TITLES: Final = {
    NotificationKind.TRIGGER: "New alert",
    NotificationKind.ESCALATE: "Escalated: not acknowledged",
    NotificationKind.SEVERITY: "Severity raised",
    NotificationKind.REPEAT: "Reminder: still open",
    NotificationKind.ACKNOWLEDGE: "Acknowledged",
    NotificationKind.RESOLVE: "Resolved",
}

#: Events API v2 knows critical/error/warning/info.
PAGERDUTY_SEVERITY: Final = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MODERATE: "warning",
    Severity.ADVISORY: "info",
}
_PD_SUMMARY_MAX: Final = 1024
#: Longest text taken from an alert into a message (a ward, a bed, a name); longer is cut with "…".
FIELD_MAX: Final = 200
#: The engine's own sentences (summary, recommendation) are longer, but still bounded.
SENTENCE_MAX: Final = 1000


def alert_link(dashboard_url: str, alert_id: str) -> str:
    # Alert ids are tokens (the notifier dead-letters any other, streams/notifier/deadletter.py).
    return f"{dashboard_url.rstrip('/')}/#/alerts/{alert_id}"


def _text(value: str, limit: int = FIELD_MAX) -> str:
    """Text from the feed made inert: one line, no control or bidi characters, bounded."""
    return inert(value, limit)


def _lab(evidence: LabEvidence | None) -> dict[str, Any] | None:
    return None if evidence is None else {"value": evidence.value, "unit": _text(evidence.unit)}


def values_text(alert: AlertEvent) -> str:
    """`K 2.9 mmol/L, Mg 0.48 mmol/L` (or `Mg not measured`)."""
    parts = []
    for label, ev in (("K", alert.evidence.potassium), ("Mg", alert.evidence.magnesium)):
        parts.append(f"{label} {ev.value:g} {_text(ev.unit)}" if ev else f"{label} not measured")
    return ", ".join(parts)


def message_fields(alert: AlertEvent, fields: Sequence[str], dashboard_url: str) -> dict[str, Any]:
    """The configured fields of one alert, in the configured order; absent values are left out.

    Every text is inert (see alerts.text): formats that give meaning to characters escape further.
    """
    location = alert.location
    values: dict[str, Any] = {
        "unit": location.unit if location else None,
        "room": location.room if location else None,
        "bed": location.bed if location else None,
        "rule": alert.rule.value,
        "severity": alert.severity.value,
        "event": alert.event.value,
        "summary": alert.summary,
        "recommendation": alert.recommendation,
        "refractory": alert.evidence.refractory,
        "event_time": alert.event_time.isoformat(),
        "reason": alert.reason.value if alert.reason else None,
        "acknowledged_by": alert.acknowledged_by,
        "encounter_id": alert.encounter_id,
        "patient_id": alert.patient_id,
        "link": alert_link(dashboard_url, alert.alert_id),
    }
    chosen: dict[str, Any] = {}
    for name in fields:
        if name == "values":
            labs = {"potassium": _lab(alert.evidence.potassium), "magnesium": _lab(alert.evidence.magnesium)}
            chosen["values"] = {k: v for k, v in labs.items() if v is not None}
        elif name == "diuretics":
            chosen["diuretics"] = sorted({_text(d.ingredient) for d in alert.evidence.diuretics})
        elif isinstance(values.get(name), str):
            long = name in ("summary", "recommendation", "link")
            chosen[name] = _text(values[name], SENTENCE_MAX if long else FIELD_MAX)
        elif values.get(name) is not None:
            chosen[name] = values[name]
    return chosen


def headline(n: Notification, fields: Sequence[str]) -> str:
    """One line of inert text for chat, e-mail subjects and pager summaries, from the configured fields."""
    alert = n.alert
    bits = [TITLES[n.kind] + ":"]
    if "severity" in fields:
        bits.append(alert.severity.value.upper())
    if "rule" in fields:
        bits.append(alert.rule.value)
    place = []
    if "unit" in fields and alert.location and alert.location.unit:
        place.append(f"unit {_text(alert.location.unit)}")
    if "room" in fields and alert.location and alert.location.room:
        place.append(f"room {_text(alert.location.room)}")
    if "bed" in fields and alert.location and alert.location.bed:
        place.append(f"bed {_text(alert.location.bed)}")
    if place:
        bits.append("(" + " ".join(place) + ")")
    if "values" in fields:
        bits.append("- " + values_text(alert))
    if n.kind is NotificationKind.RESOLVE and alert.reason:
        bits.append(f"[{alert.reason.value}]")
    return " ".join(bits)


def _status(alert: AlertEvent) -> str:
    if alert.event is AlertEventKind.RESOLVED:
        return "resolved"
    return "acknowledged" if alert.acknowledged_by or alert.event is AlertEventKind.ACKNOWLEDGED else "open"


def webhook_payload(n: Notification, fields: Sequence[str], dashboard_url: str) -> dict[str, Any]:
    """The generic webhook document; `delivery_id` lets a receiver drop an at-least-once duplicate."""
    return {
        "version": 1,
        "source": "lytewatch",
        "delivery_id": n.log_key,
        "notification": n.kind.value,
        "repeat": n.repeat,
        "level": n.level,
        "receiver": n.receiver,
        "alert_id": n.alert.alert_id,
        "revision": n.alert.revision,
        "status": _status(n.alert),
        "title": headline(n, fields),
        "alert": message_fields(n.alert, fields, dashboard_url),
    }


def slack_payload(n: Notification, fields: Sequence[str], dashboard_url: str) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message (plain `text`, which every clone understands).

    Every line from the alert is escaped, so `<!channel>` or `<http://x|y>` in a ward name stays text;
    the only markup is our own link.
    """
    lines = [headline(n, fields)]
    if "summary" in fields:
        lines.append(_text(n.alert.summary, SENTENCE_MAX))
    if "recommendation" in fields and n.kind in (NotificationKind.TRIGGER, NotificationKind.ESCALATE):
        lines.append(_text(n.alert.recommendation, SENTENCE_MAX))
    text = [slack_escape(line) for line in lines]
    if "link" in fields:
        label = slack_escape(_text(n.alert.alert_id)).replace("|", "&#124;")
        text.append(f"<{alert_link(dashboard_url, n.alert.alert_id)}|Open alert {label}>")
    return {"text": "\n".join(text)}


def pagerduty_event(
    n: Notification, routing_key: str, source: str, fields: Sequence[str], dashboard_url: str
) -> dict[str, Any]:
    """A PagerDuty Events API v2 event; dedup_key is the alert id, so PagerDuty merges repeats."""
    if n.kind is NotificationKind.ACKNOWLEDGE:
        return {"routing_key": routing_key, "event_action": "acknowledge", "dedup_key": n.alert.alert_id}
    if n.kind is NotificationKind.RESOLVE:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": n.alert.alert_id}
    details = message_fields(n.alert, fields, dashboard_url)
    details["notification"] = n.kind.value
    details["revision"] = n.alert.revision
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": n.alert.alert_id,
        "payload": {
            "summary": headline(n, fields)[:_PD_SUMMARY_MAX],
            "source": source,
            "severity": PAGERDUTY_SEVERITY[n.alert.severity],
            "component": n.alert.rule.value,
            "custom_details": details,
        },
    }
    if "link" in fields:
        event["links"] = [{"href": alert_link(dashboard_url, n.alert.alert_id), "text": "Open in lytewatch"}]
    return event


def email_message(
    n: Notification, fields: Sequence[str], dashboard_url: str, sender: str, to: Sequence[str]
) -> EmailMessage:
    """A plain-text e-mail; the X-Lytewatch-Delivery header carries the delivery id.

    No CR or LF from the data reaches a header or starts a line of the body (all text is inert).
    """
    message = EmailMessage()
    message["Subject"] = f"[lytewatch] {headline(n, fields)}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["X-Lytewatch-Delivery"] = _text(n.log_key, SENTENCE_MAX)
    lines = [headline(n, fields), ""]
    for name, value in message_fields(n.alert, fields, dashboard_url).items():
        if name == "values":
            value = values_text(n.alert)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"{name}: {value}")
    lines += ["", f"alert id: {_text(n.alert.alert_id)} (revision {n.alert.revision})"]
    message.set_content("\n".join(lines) + "\n")
    return message
