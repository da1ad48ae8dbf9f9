// The collapsible panels under the board: alerts resolved in the last 24 h with why, and the alert burden.
import { apiGet } from "./auth.js";
import { REASON_LABEL, RULE_LABEL, bedLabel, el, fmtTime, link, patientHref, table, wardOf } from "./format.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const $ = (id) => document.getElementById(id);
const resolved = new Map(); // alert_id -> AlertView of its resolved event

function resolvedAt(alert) {
  return new Date(alert.emitted_at || alert.event_time).getTime();
}

export async function loadResolved() {
  const { status, body } = await apiGet("/api/resolved");
  if (status !== 200) return;
  resolved.clear();
  for (const alert of body.alerts) resolved.set(alert.alert_id, alert);
  renderResolved();
}

export function noteResolved(alert) {
  resolved.set(alert.alert_id, alert);
  renderResolved();
}

export function forgetResolved(alertId) {
  // An alert that is open again (a late event) is not "resolved".
  if (resolved.delete(alertId)) renderResolved();
}

export function renderResolved() {
  const cutoff = Date.now() - DAY_MS;
  for (const [id, alert] of resolved) if (resolvedAt(alert) < cutoff) resolved.delete(id);
  const items = [...resolved.values()].sort((a, b) => resolvedAt(b) - resolvedAt(a));
  $("resolved-count").textContent = String(items.length);
  const list = $("resolved-list");
  if (!items.length) {
    list.replaceChildren(el("li", "muted", "No alert was resolved in the last 24 hours."));
    return;
  }
  list.replaceChildren(
    ...items.map((alert) => {
      const item = el("li", "resolved-item");
      item.dataset.alertId = alert.alert_id;
      item.dataset.reason = alert.reason || "";
      const where = `${wardOf(alert)} · ${bedLabel(alert.location)} · ${alert.patient_id}`;
      item.append(el("span", "resolved-when", fmtTime(alert.emitted_at || alert.event_time)));
      item.append(el("span", "resolved-where", where));
      item.append(el("span", `badge small sev-${alert.severity}`, alert.severity.toUpperCase()));
      item.append(el("span", "resolved-rule", RULE_LABEL[alert.rule] || alert.rule));
      const reason = REASON_LABEL[alert.reason] || alert.reason || "reason not given";
      item.append(el("span", "resolved-reason", `Resolved: ${reason} (${alert.reason || "?"})`));
      if (alert.acknowledged_by) item.append(el("span", "muted", `acknowledged by ${alert.acknowledged_by}`));
      item.append(link(patientHref(alert.patient_id, alert.alert_id), "patient-link", "Trend and history ›"));
      return item;
    }),
  );
}

function pct(share) {
  return share === null || share === undefined ? "—" : `${Math.round(share * 100)} %`;
}

export async function loadBurden() {
  const { status, body } = await apiGet("/api/burden");
  if (status !== 200) return;
  const [day, week] = body.windows;
  const rows = [];
  day.by_rule_and_severity.forEach((row, i) => {
    const weekRow = week.by_rule_and_severity[i];
    if (!row.alerts && !weekRow.alerts) return;
    const tr = el("tr");
    tr.dataset.rule = row.rule;
    tr.dataset.severity = row.severity;
    tr.append(
      el("td", null, RULE_LABEL[row.rule] || row.rule),
      el("td", null, row.severity),
      el("td", "num", row.alerts),
      el("td", "num", row.per_100_patient_days.toFixed(1)),
      el("td", "num", weekRow.alerts),
      el("td", "num", weekRow.per_100_patient_days.toFixed(1)),
    );
    rows.push(tr);
  });
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", "muted", "No alert opened in the last 7 days.");
    td.colSpan = 6;
    tr.append(td);
    rows.push(tr);
  }
  const headers = ["Rule", "Severity", "24 h: alerts", "per 100 patient-days", "7 days: alerts", "per 100 patient-days"];
  const acked = (w, label) =>
    `${label}: ${pct(w.acknowledged_within_15_min_share)} acknowledged within 15 min ` +
    `(${w.acknowledged_within_15_min} of ${w.acknowledgement_measured}); ${w.patient_days} patient-days with results or orders`;
  $("burden-body").replaceChildren(
    el("p", "burden-ack", acked(day, "Last 24 h")),
    el("p", "burden-ack", acked(week, "Last 7 days")),
    table(headers, rows, "burden-table"),
  );
}

export async function loadNotice() {
  const { status, body } = await apiGet("/api/about");
  if (status !== 200 || !body.notice) return;
  $("notice").textContent = body.notice;
  $("notice").classList.remove("hidden");
}
