// Shared formatting of the page: lab numbers as labs print them, times, labels, and a text-only DOM helper.

export const SEVERITY_RANK = { advisory: 0, moderate: 1, high: 2, critical: 3 };
export const RULE_LABEL = {
  KMG_COMBINED: "Combined K + Mg depletion",
  KMG_CHECK_MG: "Low K on a diuretic, no recent Mg",
};
export const CLASS_LABEL = {
  loop: "loop diuretic",
  thiazide: "thiazide",
  carbonic_anhydrase_inhibitor: "carbonic anhydrase inhibitor",
  potassium_replacement: "K replacement",
  magnesium_replacement: "Mg replacement",
};
// Why an alert left the board, in words a nurse uses.
export const REASON_LABEL = {
  normalized: "K and Mg back above the thresholds",
  superseded: "replaced by a more specific alert",
  retracted: "the result it rested on was withdrawn by the lab",
  expired: "its results grew too old",
  diuretic_stopped: "the diuretic was stopped",
  discharged: "the patient was discharged",
};
const ANALYTE = { K: "potassium", Mg: "magnesium" };

// Decimals a lab report uses, by analyte and unit (the same table as streams/web/labtext.py); a value
// sent with more precision keeps it.
const DECIMALS = {
  "potassium|mmol/l": 1,
  "potassium|meq/l": 1,
  "magnesium|mmol/l": 2,
  "magnesium|meq/l": 2,
  "magnesium|mg/dl": 1,
};

function needed(value) {
  for (let d = 0; d < 3; d += 1) {
    if (Math.abs(Number(value.toFixed(d)) - value) < 1e-9) return d;
  }
  return 3;
}

// labNumber("K", 3, "mmol/L") === "3.0"; labNumber("Mg", 0.6, "mmol/L") === "0.60".
export function labNumber(analyte, value, unit) {
  const name = ANALYTE[analyte] || analyte;
  const decimals = Math.max(DECIMALS[`${name}|${String(unit).toLowerCase()}`] ?? 2, needed(Number(value)));
  return Number(value).toFixed(decimals);
}

export function el(tag, className, text) {
  // Text only: alert content is never parsed as HTML.
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function link(href, className, text) {
  const a = el("a", className, text);
  a.href = href;
  return a;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const now = new Date();
  // 24-hour clock, as charts and lab reports use.
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  if (d.toDateString() === now.toDateString()) return time;
  const sameYear = d.getFullYear() === now.getFullYear();
  const day = d.toLocaleDateString([], sameYear ? { day: "numeric", month: "short" } : { day: "numeric", month: "short", year: "numeric" });
  return `${day} ${time}`;
}

export function fmtAge(iso) {
  if (!iso) return "";
  const ms = Date.now() - new Date(iso).getTime();
  if (ms < -60000) return "in the future (date-shifted data)";
  const minutes = Math.max(0, Math.floor(ms / 60000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min ago`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h ago`;
}

export function bedLabel(loc) {
  if (!loc || (!loc.room && !loc.bed)) return "Bed unknown";
  return `Bed ${[loc.room, loc.bed].filter(Boolean).join("-")}`;
}

export function wardOf(alert) {
  return (alert.location && alert.location.unit) || "Unit unknown";
}

export function patientHref(patientId, alertId) {
  const base = `#/patients/${encodeURIComponent(patientId)}`;
  return alertId ? `${base}?alert=${encodeURIComponent(alertId)}` : base;
}

// A table with column headers, in a wrapper that scrolls sideways on a narrow screen (the page does not).
export function table(headers, rows, className) {
  const t = el("table", className);
  const head = el("tr");
  for (const text of headers) {
    const th = el("th", null, text);
    th.scope = "col";
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  tbody.append(...rows);
  t.append(thead, tbody);
  const wrap = el("div", "table-wrap");
  wrap.append(t);
  return wrap;
}
