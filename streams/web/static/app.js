// The dashboard page's logic: reads the alert stream (SSE), renders open alerts, sends acknowledgements.
"use strict";

(() => {
  const SEVERITY_RANK = { advisory: 0, moderate: 1, high: 2, critical: 3 };
  const RULE_LABEL = {
    KMG_COMBINED: "Combined K + Mg depletion",
    KMG_CHECK_MG: "Low K on a diuretic, no recent Mg",
  };
  const CLASS_LABEL = {
    loop: "loop diuretic",
    thiazide: "thiazide",
    carbonic_anhydrase_inhibitor: "carbonic anhydrase inhibitor",
  };
  const TOKEN_KEY = "lytewatch.token";
  const NAME_KEY = "lytewatch.ackName";
  // A transition older than this is history being replayed (e.g. a dashboard restart), not news.
  const FRESH_MS = 60 * 60 * 1000;

  const alerts = new Map(); // alert_id -> AlertView
  const pendingAcks = new Map(); // alert_id -> "sending" | "sent" | error text
  let lastSeq = null;
  let source = null;
  let everConnected = false;
  let lost = false;
  let retryTimer = null;
  let flashUntil = new Map(); // alert_id -> ms timestamp

  const $ = (id) => document.getElementById(id);

  // --- small DOM helpers (text only: alert content is never parsed as HTML) ---
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    // 24-hour clock, as charts and lab reports use.
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    return sameDay ? time : `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
  }

  function fmtAge(iso) {
    if (!iso) return "";
    const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
    if (minutes < 1) return "just now";
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${minutes % 60} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }

  function bedLabel(loc) {
    if (!loc || (!loc.room && !loc.bed)) return "Bed unknown";
    return `Bed ${[loc.room, loc.bed].filter(Boolean).join("-")}`;
  }

  // --- token and name ---
  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function authHeaders() {
    const t = token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }

  function askToken(rejected) {
    return new Promise((resolve) => {
      const dialog = $("token-dialog");
      $("token-error").classList.toggle("hidden", !rejected);
      $("token-input").value = "";
      $("token-form").onsubmit = (event) => {
        event.preventDefault();
        const value = $("token-input").value.trim();
        if (!value) return;
        sessionStorage.setItem(TOKEN_KEY, value);
        dialog.close();
        resolve();
      };
      if (!dialog.open) dialog.showModal();
    });
  }

  function showName() {
    const name = sessionStorage.getItem(NAME_KEY);
    $("whoami-text").textContent = name ? `Acknowledging as ${name}` : "Not signed for acknowledgements";
    $("change-name").textContent = name ? "change" : "set name";
  }

  function askName() {
    return new Promise((resolve) => {
      const dialog = $("name-dialog");
      $("name-input").value = sessionStorage.getItem(NAME_KEY) || "";
      $("name-form").onsubmit = (event) => {
        event.preventDefault();
        const value = $("name-input").value.trim();
        if (!value) return;
        sessionStorage.setItem(NAME_KEY, value);
        dialog.close();
        showName();
        resolve(value);
      };
      $("name-cancel").onclick = () => {
        dialog.close();
        resolve(null);
      };
      dialog.showModal();
    });
  }

  // --- connection ---
  function setConn(stateName, text) {
    const conn = $("conn");
    conn.className = `conn conn-${stateName}`;
    $("conn-text").textContent = text;
    const banner = $("conn-banner");
    document.body.classList.toggle("stale", stateName === "lost");
    if (stateName === "lost") {
      banner.className = "conn-banner conn-banner-lost";
      banner.textContent = "Connection lost: the alerts below may be out of date. Reconnecting…";
    } else if (stateName === "live" && lost) {
      banner.className = "conn-banner conn-banner-back";
      banner.textContent = "Connection restored: the alerts below are up to date.";
      setTimeout(() => {
        if (!lost) banner.className = "conn-banner hidden";
      }, 6000);
    }
  }

  async function probe() {
    // EventSource hides the HTTP status, so a plain request tells a bad token from a dead server.
    try {
      const query = pageFilters().toString();
      const url = `/api/alerts${query ? `?${query}` : ""}`;
      const response = await fetch(url, { headers: authHeaders(), cache: "no-store" });
      return response.status;
    } catch (err) {
      return 0;
    }
  }

  // The page's own ?unit=&min_severity=&rule= become the stream's filters (a unit's own screen).
  function pageFilters() {
    const own = new URLSearchParams(window.location.search);
    const params = new URLSearchParams();
    for (const name of ["unit", "min_severity", "rule"]) {
      if (own.get(name)) params.set(name, own.get(name));
    }
    return params;
  }

  function streamUrl() {
    const params = pageFilters();
    if (token()) params.set("token", token());
    // A new EventSource does not send Last-Event-ID, so the resume point goes in the query.
    if (lastSeq !== null) params.set("last_event_id", lastSeq);
    const query = params.toString();
    return `/api/alerts/stream${query ? `?${query}` : ""}`;
  }

  async function connect() {
    clearTimeout(retryTimer);
    if (source) source.close();
    let status = await probe();
    while (status === 401) {
      await askToken(token() !== "");
      status = await probe();
    }
    if (status === 400) {
      setConn("lost", "Unknown filter in the page address (unit, min_severity, rule)");
      return;
    }
    if (status !== 200) {
      markLost();
      retryTimer = setTimeout(connect, 3000);
      return;
    }
    source = new EventSource(streamUrl());
    source.onopen = () => {
      setConn("live", "Live");
      lost = false;
      everConnected = true;
    };
    source.onerror = () => {
      markLost();
      // CONNECTING: the browser retries by itself, with Last-Event-ID. CLOSED: it gave up (an HTTP error).
      if (source.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 3000);
    };
    source.addEventListener("snapshot", onSnapshot);
    source.addEventListener("transition", onTransition);
  }

  function markLost() {
    if (everConnected || lost) {
      lost = true;
      setConn("lost", "Connection lost");
    } else {
      setConn("connecting", "Connecting…");
    }
  }

  function onSnapshot(event) {
    const data = JSON.parse(event.data);
    alerts.clear();
    for (const alert of data.alerts) alerts.set(alert.alert_id, alert);
    lastSeq = event.lastEventId || String(data.seq);
    render();
  }

  function onTransition(event) {
    const data = JSON.parse(event.data);
    const alert = data.alert;
    lastSeq = event.lastEventId || String(data.seq);
    if (data.in_view) {
      alerts.set(alert.alert_id, alert);
    } else {
      alerts.delete(alert.alert_id);
      pendingAcks.delete(alert.alert_id);
    }
    if (alert.acknowledged_by) pendingAcks.delete(alert.alert_id);
    const becameCritical = (data.event === "fired" || data.event === "escalated") && alert.severity === "critical";
    const emitted = new Date(alert.emitted_at || alert.event_time).getTime();
    if (data.in_view && becameCritical && Date.now() - emitted < FRESH_MS) announceCritical(alert, data.event);
    render();
  }

  // --- new critical alerts ---
  function announceCritical(alert, kind) {
    const loc = alert.location || {};
    const where = `${loc.unit || "unit unknown"} · ${bedLabel(loc)}`;
    const what = kind === "escalated" ? "escalated to CRITICAL" : "new CRITICAL alert";
    $("critical-text").textContent = `${where}: ${what}. ${alert.summary}`;
    $("critical-banner").classList.remove("hidden");
    flashUntil.set(alert.alert_id, Date.now() + 30000);
    document.title = "⚠ CRITICAL · lytewatch";
  }

  function dismissCritical() {
    $("critical-banner").classList.add("hidden");
    document.title = "lytewatch · K/Mg alerts";
  }

  // --- acknowledgement ---
  async function acknowledge(alertId) {
    let name = sessionStorage.getItem(NAME_KEY);
    if (!name) name = await askName();
    if (!name) return;
    pendingAcks.set(alertId, "sending");
    render();
    let response;
    try {
      response = await fetch(`/api/alerts/${encodeURIComponent(alertId)}/ack`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...authHeaders() },
        body: JSON.stringify({ by: name }),
      });
    } catch (err) {
      pendingAcks.set(alertId, "Not sent: no connection. Try again.");
      render();
      return;
    }
    if (response.status === 202) {
      // The alert shows "acknowledged" when the engine's acknowledged event comes back on the stream.
      if (pendingAcks.get(alertId) === "sending") pendingAcks.set(alertId, "sent");
    } else if (response.status === 401) {
      pendingAcks.delete(alertId);
      await askToken(true);
    } else if (response.status === 409) {
      pendingAcks.set(alertId, "Already resolved.");
    } else {
      pendingAcks.set(alertId, `Not sent (error ${response.status}). Try again.`);
    }
    render();
  }

  // --- rendering ---
  function severityRank(alert) {
    return SEVERITY_RANK[alert.severity] ?? -1;
  }

  function labLine(label, lab, missingText) {
    const row = el("div", "lab");
    row.append(el("span", "lab-name", label));
    if (!lab) {
      row.append(el("span", "lab-missing", missingText));
      return row;
    }
    row.append(el("span", "lab-value", String(lab.value)), el("span", "lab-unit", lab.unit || "mmol/L"));
    if (lab.as_sent && lab.as_sent.unit !== (lab.unit || "mmol/L")) {
      row.append(el("span", "lab-sent", `(${lab.as_sent.value} ${lab.as_sent.unit} as sent)`));
    }
    row.append(el("span", "lab-time", `collected ${fmtTime(lab.collected_at)} (${fmtAge(lab.collected_at)} ago)`));
    return row;
  }

  function alertCard(alert) {
    const card = el("article", `alert sev-${alert.severity}`);
    card.dataset.alertId = alert.alert_id;
    card.dataset.severity = alert.severity;
    if ((flashUntil.get(alert.alert_id) || 0) > Date.now()) card.classList.add("flash");

    const head = el("div", "alert-head");
    const badge = el("span", "badge", alert.severity.toUpperCase());
    badge.setAttribute("aria-label", `severity ${alert.severity}`);
    head.append(badge);
    if (alert.evidence.refractory) head.append(el("span", "refractory", "REFRACTORY"));
    head.append(el("span", "age", `open ${fmtAge(alert.opened_at)}`));
    card.append(head, el("div", "rule", RULE_LABEL[alert.rule] || alert.rule));

    const labs = el("div", "labs");
    labs.append(labLine("K", alert.evidence.potassium, "no current result"));
    labs.append(labLine("Mg", alert.evidence.magnesium, "not measured in the last 72 h"));
    card.append(labs);

    const meds = alert.evidence.diuretics || [];
    if (meds.length) {
      const text = meds
        .map((m) => `${m.ingredient} (${CLASS_LABEL[m.class] || m.class}) since ${fmtTime(m.start)}`)
        .join("; ");
      card.append(el("div", "meds", `On ${text}`));
    }
    if (alert.evidence.refractory) {
      card.append(el("div", "refractory-note", "K stays low despite potassium replacement: replete magnesium."));
    }
    card.append(el("p", "recommendation", alert.recommendation));

    const foot = el("div", "alert-foot");
    const pending = pendingAcks.get(alert.alert_id);
    if (alert.acknowledged_by) {
      const when = alert.acknowledged_at ? ` at ${fmtTime(alert.acknowledged_at)}` : "";
      foot.append(el("span", "acked", `✓ Acknowledged by ${alert.acknowledged_by}${when}`));
    } else if (pending === "sending" || pending === "sent") {
      foot.append(el("span", "ack-pending", pending === "sending" ? "Sending…" : "Acknowledgement sent…"));
    } else {
      const button = el("button", "ack-button", "Acknowledge");
      button.type = "button";
      button.setAttribute("aria-label", `Acknowledge ${alert.severity} alert, ${bedLabel(alert.location)}`);
      button.addEventListener("click", () => acknowledge(alert.alert_id));
      foot.append(button);
      if (pending) foot.append(el("span", "ack-error", pending));
    }
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

  function byUrgency(a, b) {
    return severityRank(b) - severityRank(a) || String(a.opened_at).localeCompare(String(b.opened_at));
  }

  function render() {
    const board = $("board");
    const list = [...alerts.values()].sort(byUrgency);
    const units = groupBy(list, (a) => (a.location && a.location.unit) || "Unit unknown");
    // Map insertion follows `list`, so units and beds come most urgent first.
    const sections = [];
    for (const [unit, unitAlerts] of units) {
      const section = el("section", "unit");
      section.dataset.unit = unit;
      const heading = el("h2", "unit-name", unit);
      heading.append(el("span", "unit-count", `${unitAlerts.length} open`));
      section.append(heading);
      const beds = el("div", "beds");
      for (const [, bedAlerts] of groupBy(unitAlerts, (a) => `${bedLabel(a.location)}|${a.patient_id}`)) {
        const first = bedAlerts[0];
        const bed = el("div", `bed sev-${first.severity}`);
        const bedHead = el("div", "bed-head");
        bedHead.append(el("span", "bed-name", bedLabel(first.location)), el("span", "patient", first.patient_id));
        bed.append(bedHead, ...bedAlerts.map(alertCard));
        beds.append(bed);
      }
      section.append(beds);
      sections.push(section);
    }
    board.replaceChildren(...sections);
    $("empty").classList.toggle("hidden", list.length > 0);
    const critical = list.filter((a) => a.severity === "critical").length;
    $("counts").textContent = `${list.length} open · ${critical} critical`;
    $("counts").classList.toggle("has-critical", critical > 0);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("critical-dismiss").addEventListener("click", dismissCritical);
    $("change-name").addEventListener("click", () => askName());
    showName();
    render();
    connect();
    // Ages and flashes move with the clock, not only with events.
    setInterval(() => {
      const now = Date.now();
      flashUntil = new Map([...flashUntil].filter(([, until]) => until > now));
      render();
    }, 30000);
  });
})();
