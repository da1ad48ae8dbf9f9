// The board of open alerts: most urgent first across wards (default) or grouped by ward, with a ward filter.
import {
  CLASS_LABEL, RULE_LABEL, SEVERITY_RANK, bedLabel, el, fmtAge, fmtTime, labNumber, link, patientHref, wardOf,
} from "./format.js";

const PREFS_KEY = "lytewatch.boardPrefs"; // remembered per browser (localStorage), not per tab
const $ = (id) => document.getElementById(id);

export function loadPrefs() {
  try {
    const saved = JSON.parse(localStorage.getItem(PREFS_KEY) || "{}");
    return { view: saved.view === "ward" ? "ward" : "urgent", ward: typeof saved.ward === "string" ? saved.ward : "" };
  } catch (err) {
    return { view: "urgent", ward: "" };
  }
}

export function savePrefs(prefs) {
  localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
}

// Needs a person now: an unacknowledged critical or high alert.
export function needsActionNow(alert) {
  return !alert.acknowledged_by && (alert.severity === "critical" || alert.severity === "high");
}

function rank(alert) {
  return SEVERITY_RANK[alert.severity] ?? -1;
}

// Unacknowledged critical, then unacknowledged high, across wards; then the rest by severity, an
// acknowledged alert below the unacknowledged ones of its severity; the longest open first within each.
export function byUrgency(a, b) {
  return (
    Number(needsActionNow(b)) - Number(needsActionNow(a)) ||
    rank(b) - rank(a) ||
    Number(Boolean(a.acknowledged_by)) - Number(Boolean(b.acknowledged_by)) ||
    String(a.opened_at).localeCompare(String(b.opened_at))
  );
}

function labLine(label, analyte, lab, missingText) {
  const row = el("div", "lab");
  row.append(el("span", "lab-name", label));
  if (!lab) {
    row.append(el("span", "lab-missing", missingText));
    return row;
  }
  const unit = lab.unit || "mmol/L";
  row.append(el("span", "lab-value", labNumber(analyte, lab.value, unit)), el("span", "lab-unit", unit));
  if (lab.as_sent && lab.as_sent.unit !== unit) {
    const sent = `${labNumber(analyte, lab.as_sent.value, lab.as_sent.unit)} ${lab.as_sent.unit}`;
    row.append(el("span", "lab-sent", `(${sent} as sent)`));
  }
  row.append(el("span", "lab-time", `collected ${fmtTime(lab.collected_at)} (${fmtAge(lab.collected_at)})`));
  return row;
}

function alertCard(alert, ctx, showWhere) {
  const card = el("article", `alert sev-${alert.severity}${alert.acknowledged_by ? " is-acked" : ""}`);
  card.id = `alert-${alert.alert_id}`;
  card.tabIndex = -1;
  card.dataset.alertId = alert.alert_id;
  card.dataset.severity = alert.severity;
  card.dataset.acked = alert.acknowledged_by ? "true" : "false";
  if ((ctx.flashUntil.get(alert.alert_id) || 0) > Date.now()) card.classList.add("flash");

  if (showWhere) {
    const where = el("div", "where");
    where.append(el("span", "ward", wardOf(alert)), el("span", "bed-name", bedLabel(alert.location)));
    where.append(el("span", "patient", alert.patient_id));
    card.append(where);
  }
  const head = el("div", "alert-head");
  const badge = el("span", "badge", alert.severity.toUpperCase());
  badge.setAttribute("aria-label", `severity ${alert.severity}`);
  head.append(badge);
  if (alert.acknowledged_by) head.append(el("span", "acked-badge", "ACKNOWLEDGED"));
  if (alert.evidence.refractory) head.append(el("span", "refractory", "REFRACTORY"));
  head.append(el("span", "age", `open ${fmtAge(alert.opened_at).replace(" ago", "")}`));
  card.append(head, el("div", "rule", RULE_LABEL[alert.rule] || alert.rule));

  const labs = el("div", "labs");
  labs.append(labLine("K", "potassium", alert.evidence.potassium, "no current result"));
  labs.append(labLine("Mg", "magnesium", alert.evidence.magnesium, "not measured in the last 72 h"));
  card.append(labs);

  // Dose, route and replacement orders come from the patient page's record (loaded per patient).
  const orders = ctx.orders.get(alert.patient_id) || [];
  const detail = (order) => (order ? [order.dose, order.route].filter(Boolean).join(" ") : "");
  const meds = alert.evidence.diuretics || [];
  if (meds.length) {
    const text = meds.map((m) => {
      const given = detail(orders.find((o) => o.order_id === m.order_id));
      return `${m.ingredient}${given ? ` ${given}` : ""} (${CLASS_LABEL[m.class] || m.class}) since ${fmtTime(m.start)}`;
    });
    card.append(el("div", "meds", `On ${text.join("; ")}`));
  }
  // The two latest running replacement orders of each kind; the patient page lists them all.
  for (const kind of ["potassium_replacement", "magnesium_replacement"]) {
    const running = orders.filter((o) => o.classes.includes(kind) && !o.end);
    for (const order of running.slice(-2)) {
      const given = detail(order);
      const line = el("div", "replacement", `${CLASS_LABEL[kind]}: ${order.display}${given ? ` (${given})` : ""} since ${fmtTime(order.start)}`);
      line.dataset.orderId = order.order_id;
      card.append(line);
    }
    if (running.length > 2) card.append(el("div", "replacement", `and ${running.length - 2} more ${CLASS_LABEL[kind]} orders`));
  }
  if (alert.evidence.refractory) {
    card.append(el("div", "refractory-note", "K stays low despite potassium replacement: replete magnesium."));
  }
  card.append(el("p", "recommendation", alert.recommendation));

  const foot = el("div", "alert-foot");
  const pending = ctx.pendingAcks.get(alert.alert_id);
  if (alert.acknowledged_by) {
    const when = alert.acknowledged_at ? ` at ${fmtTime(alert.acknowledged_at)}` : "";
    foot.append(el("span", "acked", `✓ Acknowledged by ${alert.acknowledged_by}${when}`));
  } else if (pending === "sending" || pending === "sent") {
    foot.append(el("span", "ack-pending", pending === "sending" ? "Sending…" : "Acknowledgement sent…"));
  } else {
    const button = el("button", "ack-button", "Acknowledge");
    button.type = "button";
    button.setAttribute("aria-label", `Acknowledge ${alert.severity} alert, ${bedLabel(alert.location)}`);
    const blocked = ctx.ackBlocked();
    if (blocked) {
      button.disabled = true;
      button.title = blocked;
    } else {
      button.addEventListener("click", () => ctx.onAck(alert.alert_id));
    }
    foot.append(button);
    if (blocked) foot.append(el("span", "ack-blocked", blocked));
    if (pending) foot.append(el("span", "ack-error", pending));
  }
  foot.append(link(patientHref(alert.patient_id, alert.alert_id), "patient-link", "Trend and history ›"));
  foot.append(el("span", "event-kind", `${alert.event} ${fmtTime(alert.emitted_at || alert.event_time)}`));
  card.append(foot);
  return card;
}

function groupBy(items, keyOf) {
  const groups = new Map();
  for (const item of items) {
    const key = keyOf(item);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(item);
  }
  return groups;
}

function urgentSections(list, ctx) {
  const now = list.filter(needsActionNow);
  const rest = list.filter((a) => !needsActionNow(a));
  const sections = [];
  for (const [id, title, items] of [["now", "Needs action now", now], ["rest", "Other open alerts", rest]]) {
    if (!items.length) continue;
    const section = el("section", "group");
    section.dataset.group = id;
    const heading = el("h2", "group-name", title);
    heading.append(el("span", "unit-count", `${items.length}`));
    const cards = el("div", "cards");
    cards.append(...items.map((a) => alertCard(a, ctx, true)));
    section.append(heading, cards);
    sections.push(section);
  }
  return sections;
}

function wardSections(list, ctx) {
  const sections = [];
  // Map insertion follows `list`, so wards and beds come most urgent first.
  for (const [unit, unitAlerts] of groupBy(list, wardOf)) {
    const section = el("section", "unit");
    section.dataset.unit = unit;
    const heading = el("h2", "unit-name", unit);
    heading.append(el("span", "unit-count", `${unitAlerts.length} open`));
    const beds = el("div", "beds");
    for (const [, bedAlerts] of groupBy(unitAlerts, (a) => `${bedLabel(a.location)}|${a.patient_id}`)) {
      const first = bedAlerts[0];
      const bed = el("div", `bed sev-${first.severity}`);
      const bedHead = el("div", "bed-head");
      bedHead.append(el("span", "bed-name", bedLabel(first.location)), el("span", "patient", first.patient_id));
      bed.append(bedHead, ...bedAlerts.map((a) => alertCard(a, ctx, false)));
      beds.append(bed);
    }
    section.append(heading, beds);
    sections.push(section);
  }
  return sections;
}

function renderWardOptions(all, prefs) {
  const select = $("ward-filter");
  const wards = [...new Set(all.map(wardOf))].sort();
  if (prefs.ward && !wards.includes(prefs.ward)) wards.push(prefs.ward);
  const options = [el("option", null, "All wards")];
  options[0].value = "";
  for (const ward of wards) {
    const option = el("option", null, ward);
    option.value = ward;
    options.push(option);
  }
  select.replaceChildren(...options);
  select.value = prefs.ward;
}

export function renderBoard(ctx) {
  const all = [...ctx.alerts.values()].sort(byUrgency);
  const list = ctx.prefs.ward ? all.filter((a) => wardOf(a) === ctx.prefs.ward) : all;
  renderWardOptions(all, ctx.prefs);
  $("view-urgent").setAttribute("aria-pressed", String(ctx.prefs.view === "urgent"));
  $("view-ward").setAttribute("aria-pressed", String(ctx.prefs.view === "ward"));
  $("board").replaceChildren(...(ctx.prefs.view === "ward" ? wardSections(list, ctx) : urgentSections(list, ctx)));
  const empty = $("empty");
  empty.classList.toggle("hidden", list.length > 0);
  // Until the snapshot is complete an empty board means "not known yet", never "no alerts".
  empty.textContent = !ctx.caughtUp
    ? "Catching up: reading the alert history…"
    : ctx.prefs.ward ? `No open alerts on ${ctx.prefs.ward}.` : "No open alerts.";
  const critical = list.filter((a) => a.severity === "critical" && !a.acknowledged_by).length;
  const high = list.filter((a) => a.severity === "high" && !a.acknowledged_by).length;
  const acked = list.filter((a) => a.acknowledged_by).length;
  $("counts").textContent =
    `${list.length} open · ${critical + high} need action now (${critical} critical, ${high} high) · ${acked} acknowledged`;
  $("counts").classList.toggle("has-critical", critical > 0);
}
