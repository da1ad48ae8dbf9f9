// The patient page (#/patients/{id}): K and Mg over the visit with thresholds, orders, the alert history.
import { apiGet } from "./auth.js";
import {
  CLASS_LABEL, REASON_LABEL, RULE_LABEL, bedLabel, el, fmtTime, labNumber, link, table,
} from "./format.js";

const $ = (id) => document.getElementById(id);
let shown = null; // {patientId, alertId, encounter}

function labRow(lab) {
  const tr = el("tr", lab.withdrawn ? "withdrawn" : "");
  tr.dataset.resultId = lab.result_id;
  tr.dataset.analyte = lab.analyte;
  const sent = lab.sent_value !== null ? `${labNumber(lab.analyte, lab.sent_value, lab.sent_unit)} ${lab.sent_unit}` : "—";
  const mmol = lab.value !== null ? `${labNumber(lab.analyte, lab.value, "mmol/L")} mmol/L` : "—";
  tr.append(
    el("td", null, fmtTime(lab.collected_at)),
    el("td", null, lab.analyte === "potassium" ? "K" : "Mg"),
    el("td", "num", sent),
    el("td", "num", mmol),
    el("td", null, lab.withdrawn ? `withdrawn (${lab.status})` : lab.status),
  );
  return tr;
}

function orderRow(order) {
  const tr = el("tr");
  tr.dataset.orderId = order.order_id;
  tr.append(
    el("td", null, order.display),
    el("td", null, order.classes.map((c) => CLASS_LABEL[c] || c).join(", ")),
    el("td", null, order.dose || "—"),
    el("td", null, order.route || "—"),
    el("td", null, fmtTime(order.start)),
    el("td", null, order.end ? fmtTime(order.end) : "running"),
    el("td", null, order.status),
  );
  return tr;
}

function historyBlock(entry, focusId) {
  const alert = entry.alert;
  const block = el("section", `history sev-${alert.severity}`);
  block.id = `history-${alert.alert_id}`;
  block.tabIndex = -1;
  block.dataset.alertId = alert.alert_id;
  if (alert.alert_id === focusId) block.classList.add("focus");
  const state = alert.open ? (alert.acknowledged_by ? "open, acknowledged" : "open") : "resolved";
  const head = el("h3", null, `${RULE_LABEL[alert.rule] || alert.rule} — ${alert.severity.toUpperCase()} — ${state}`);
  block.append(head, el("p", "summary", alert.summary));
  const rows = entry.history.map(({ event }) => {
    const tr = el("tr");
    tr.dataset.event = event.event;
    const k = event.evidence.potassium;
    const mg = event.evidence.magnesium;
    const values = [
      k ? `K ${labNumber("potassium", k.value, k.unit || "mmol/L")}` : null,
      mg ? `Mg ${labNumber("magnesium", mg.value, mg.unit || "mmol/L")}` : null,
    ].filter(Boolean).join(", ");
    let why = "";
    if (event.event === "resolved") why = `${REASON_LABEL[event.reason] || event.reason} (${event.reason})`;
    if (event.event === "acknowledged") why = `by ${event.acknowledged_by}`;
    tr.append(
      el("td", null, fmtTime(event.emitted_at || event.event_time)),
      el("td", null, event.event),
      el("td", null, event.severity),
      el("td", null, values ? `${values} mmol/L` : "—"),
      el("td", null, why),
    );
    return tr;
  });
  block.append(table(["When", "Transition", "Severity", "Values", "Reason / who"], rows, "history-table"));
  return block;
}

async function loadPlot(url) {
  const holder = $("plot");
  const { status, body } = await apiGet(url, "text");
  if (status !== 200) {
    holder.replaceChildren(el("p", "muted", "The plot could not be loaded."));
    return;
  }
  // Our own server's SVG (text escaped there); parsed as XML, never as HTML, then adopted.
  const doc = new DOMParser().parseFromString(body, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") return;
  holder.replaceChildren(document.importNode(svg, true));
}

export async function showPatient(patientId, alertId, encounter) {
  shown = { patientId, alertId, encounter };
  const view = $("patient-view");
  const query = encounter ? `?encounter=${encodeURIComponent(encounter)}` : "";
  const { status, body } = await apiGet(`/api/patients/${encodeURIComponent(patientId)}${query}`);
  if (!shown || shown.patientId !== patientId) return;
  $("patient-title").textContent = `Patient ${patientId}`;
  if (status !== 200) {
    $("patient-meta").textContent = status === 404 ? "Nothing is known of this patient yet." : `Error ${status}.`;
    $("patient-body").replaceChildren();
    view.dataset.loaded = "false";
    return;
  }
  const loc = body.location;
  const where = loc ? `${loc.unit || "unit unknown"} · ${bedLabel(loc)}` : "location unknown";
  $("patient-meta").textContent = `${where} · visit ${body.encounter_id || "unknown"}`;
  const labs = body.labs;
  const parts = [];
  const visits = body.encounters.filter((e) => e !== body.encounter_id);
  if (visits.length) {
    const nav = el("p", "visits", "Other visits: ");
    for (const visit of visits) {
      const a = link(`#/patients/${encodeURIComponent(patientId)}?encounter=${encodeURIComponent(visit)}`, null, visit);
      nav.append(a, " ");
    }
    parts.push(nav);
  }
  const figure = el("figure", "plot-figure");
  const t = body.thresholds;
  const caption = el(
    "figcaption",
    null,
    `K and Mg over the visit (mmol/L on the axis; each point labelled with the value and unit as sent and its time). ` +
      `Dashed lines: low K < ${labNumber("potassium", t.potassium_low, "mmol/L")}, high < ${labNumber("potassium", t.potassium_high_below, "mmol/L")}, critical < ${labNumber("potassium", t.potassium_critical_below, "mmol/L")}; ` +
      `low Mg < ${labNumber("magnesium", t.magnesium_low, "mmol/L")}, high < ${labNumber("magnesium", t.magnesium_high_below, "mmol/L")}, critical < ${labNumber("magnesium", t.magnesium_critical_below, "mmol/L")}. ` +
      "Bars: wasting diuretics, K and Mg replacement.",
  );
  const plot = el("div", "plot-wrap");
  plot.id = "plot";
  figure.append(plot, caption);
  parts.push(figure);
  parts.push(el("h3", null, "Alert history"));
  parts.push(...(body.alerts.length ? body.alerts.map((a) => historyBlock(a, alertId)) : [el("p", "muted", "No alerts.")]));
  parts.push(el("h3", null, `Results (${labs.length})`));
  parts.push(table(["Collected", "Test", "As sent", "mmol/L", "Status"], labs.map(labRow), "labs-table"));
  parts.push(el("h3", null, `Orders (${body.orders.length})`));
  parts.push(
    body.orders.length
      ? table(["Order", "Class", "Dose", "Route", "Start", "End", "Status"], body.orders.map(orderRow), "orders-table")
      : el("p", "muted", "No diuretic, potassium or magnesium orders received."),
  );
  $("patient-body").replaceChildren(...parts);
  await loadPlot(body.plot);
  view.dataset.loaded = "true";
  const focus = alertId && document.getElementById(`history-${alertId}`);
  if (focus) {
    focus.scrollIntoView({ block: "start" });
    focus.focus({ preventScroll: true });
  }
}

export function hidePatient() {
  shown = null;
}

// A transition of the patient on screen: reload what the page shows.
export function patientChanged(patientId) {
  if (shown && shown.patientId === patientId) showPatient(shown.patientId, shown.alertId, shown.encounter);
}
