// The dashboard page: reads the alert stream (SSE), routes between the board and the patient page, acks.
import { ackName, apiGet, askName, csrfHeaders, loadMe, showWho, signIn, signOut, whoami } from "./auth.js";
import { loadPrefs, renderBoard, savePrefs } from "./board.js";
import { bedLabel, patientHref, wardOf } from "./format.js";
import { forgetResolved, loadBurden, loadNotice, loadResolved, noteResolved, renderResolved } from "./panels.js";
import { hidePatient, patientChanged, showPatient } from "./patient.js";

// A transition older than this is history being replayed (e.g. a dashboard restart), not news.
const FRESH_MS = 60 * 60 * 1000;
const $ = (id) => document.getElementById(id);

const ctx = {
  alerts: new Map(), // alert_id -> AlertView
  pendingAcks: new Map(), // alert_id -> "sending" | "sent" | error text
  flashUntil: new Map(), // alert_id -> ms timestamp
  prefs: loadPrefs(),
  orders: new Map(), // patient_id -> their visit's watched orders (dose, route, replacements) for the cards
  caughtUp: false,
  onAck: (id) => acknowledge(id),
  // Why this page cannot acknowledge (a viewer), or null; the board disables the buttons and says it.
  ackBlocked: () => {
    const me = whoami();
    return me && me.signed_in && !me.can_acknowledge ? `Your role (${me.role}) cannot acknowledge alerts` : null;
  },
};
let lastSeq = null;
let source = null;
let everConnected = false;
let lost = false;
let retryTimer = null;
let catchUpTimer = null;
let bannerAlert = null;

const render = () => renderBoard(ctx);
const loadingOrders = new Set();

// The cards' dose, route and replacement orders: one patient read per patient with an open alert,
// again whenever a transition of that patient arrives.
async function loadOrders(patientId) {
  if (loadingOrders.has(patientId)) return;
  loadingOrders.add(patientId);
  try {
    const { status, body } = await apiGet(`/api/patients/${encodeURIComponent(patientId)}`);
    if (status === 200) {
      ctx.orders.set(patientId, body.orders);
      render();
    }
  } finally {
    loadingOrders.delete(patientId);
  }
}

function loadMissingOrders() {
  for (const alert of ctx.alerts.values()) if (!ctx.orders.has(alert.patient_id)) loadOrders(alert.patient_id);
}

// --- connection ---
function setConn(stateName, text) {
  $("conn").className = `conn conn-${stateName}`;
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

function showLiveState() {
  // "Live" only once the snapshot is complete: until then the board may lack alerts it will show.
  if (ctx.caughtUp) setConn("live", "Live");
  else setConn("catching", "Catching up…");
}

async function waitCaughtUp() {
  clearTimeout(catchUpTimer);
  if (ctx.caughtUp) return;
  const { status, body } = await apiGet("/healthz");
  if (status === 200 && body.caught_up) {
    ctx.caughtUp = true;
    if (!lost) showLiveState();
    render();
    loadResolved();
    return;
  }
  catchUpTimer = setTimeout(waitCaughtUp, 1000);
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
  // A new EventSource does not send Last-Event-ID, so the resume point goes in the query.
  if (lastSeq !== null) params.set("last_event_id", lastSeq);
  const query = params.toString();
  return `/api/alerts/stream${query ? `?${query}` : ""}`;
}

async function probe() {
  // EventSource hides the HTTP status, so a plain request tells a bad token from a dead server.
  const query = pageFilters().toString();
  try {
    const response = await fetch(`/api/alerts${query ? `?${query}` : ""}`, { cache: "no-store" });
    return response.status;
  } catch (err) {
    return 0;
  }
}

async function connect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  const me = whoami() || (await loadMe());
  if (me && !me.signed_in) await signIn(false);
  render();
  let status = await probe();
  while (status === 401) {
    await signIn(true);
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
    showLiveState();
    lost = false;
    everConnected = true;
  };
  source.onerror = () => {
    markLost();
    // CONNECTING: the browser retries by itself, with Last-Event-ID. CLOSED: it gave up (an HTTP error).
    // Soon: a 401 (the session ended, or the dashboard restarted) needs a new sign-in; connect() probes
    // first and waits 3 s itself while the server does not answer.
    if (source.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 500);
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
  ctx.alerts.clear();
  for (const alert of data.alerts) ctx.alerts.set(alert.alert_id, alert);
  lastSeq = event.lastEventId || String(data.seq);
  ctx.caughtUp = Boolean(data.caught_up);
  showLiveState();
  if (!ctx.caughtUp) waitCaughtUp();
  else loadResolved();
  render();
  loadMissingOrders();
}

function onTransition(event) {
  const data = JSON.parse(event.data);
  const alert = data.alert;
  lastSeq = event.lastEventId || String(data.seq);
  if (data.in_view) {
    ctx.alerts.set(alert.alert_id, alert);
    forgetResolved(alert.alert_id);
  } else {
    ctx.alerts.delete(alert.alert_id);
    ctx.pendingAcks.delete(alert.alert_id);
    if (!alert.open) noteResolved(alert);
  }
  if (alert.acknowledged_by) ctx.pendingAcks.delete(alert.alert_id);
  const becameCritical = (data.event === "fired" || data.event === "escalated") && alert.severity === "critical";
  const emitted = new Date(alert.emitted_at || alert.event_time).getTime();
  if (data.in_view && becameCritical && Date.now() - emitted < FRESH_MS) announceCritical(alert, data.event);
  render();
  if (data.in_view) loadOrders(alert.patient_id);
  patientChanged(alert.patient_id);
}

// --- new critical alerts ---
function announceCritical(alert, kind) {
  const what = kind === "escalated" ? "escalated to CRITICAL" : "new CRITICAL alert";
  $("critical-text").textContent = `${wardOf(alert)} · ${bedLabel(alert.location)}: ${what}. ${alert.summary}`;
  $("critical-banner").classList.remove("hidden");
  bannerAlert = alert.alert_id;
  ctx.flashUntil.set(alert.alert_id, Date.now() + 30000);
  document.title = "⚠ CRITICAL · lytewatch";
}

function dismissCritical() {
  $("critical-banner").classList.add("hidden");
  document.title = "lytewatch · K/Mg alerts";
}

function showBannerAlert() {
  const id = bannerAlert;
  if (!id) return;
  if (ctx.prefs.ward && ctx.alerts.has(id) && wardOf(ctx.alerts.get(id)) !== ctx.prefs.ward) {
    ctx.prefs.ward = ""; // the card must be on the board to be shown
    savePrefs(ctx.prefs);
  }
  if (location.hash && location.hash !== "#/") location.hash = "#/";
  route();
  render();
  const card = document.getElementById(`alert-${id}`);
  if (card) {
    card.scrollIntoView({ block: "center" });
    card.focus({ preventScroll: true });
  }
  dismissCritical();
}

// --- acknowledgement ---
async function acknowledge(alertId) {
  const me = whoami();
  if (me && !me.can_acknowledge) return;
  const body = {};
  // A signed-in person's (or named token's) verified identity is recorded; a typed name only without one.
  if (!me || me.needs_name) {
    body.by = ackName() || (await askName());
    if (!body.by) return;
  }
  ctx.pendingAcks.set(alertId, "sending");
  render();
  let response;
  try {
    response = await fetch(`/api/alerts/${encodeURIComponent(alertId)}/ack`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...csrfHeaders() },
      body: JSON.stringify(body),
    });
  } catch (err) {
    ctx.pendingAcks.set(alertId, "Not sent: no connection. Try again.");
    render();
    return;
  }
  if (response.status === 202) {
    // The alert shows "acknowledged" when the engine's acknowledged event comes back on the stream.
    if (ctx.pendingAcks.get(alertId) === "sending") ctx.pendingAcks.set(alertId, "sent");
  } else if (response.status === 401) {
    ctx.pendingAcks.delete(alertId);
    await signIn(true);
  } else if (response.status === 403) {
    const answer = await response.json().catch(() => ({}));
    ctx.pendingAcks.set(alertId, `Not sent: ${answer.detail || "refused"}.`);
    await loadMe();
  } else if (response.status === 409) {
    ctx.pendingAcks.set(alertId, "Already resolved.");
  } else {
    ctx.pendingAcks.set(alertId, `Not sent (error ${response.status}). Try again.`);
  }
  render();
}

// --- routing: #/ board, #/patients/{id}[?alert=&encounter=], #/alerts/{id} (notification links) ---
async function route() {
  const hash = location.hash.replace(/^#/, "");
  const [path, query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "alerts" && parts[1]) {
    const { status, body } = await apiGet(`/api/alerts/${encodeURIComponent(parts[1])}`);
    if (status === 200) {
      location.replace(patientHref(body.alert.patient_id, parts[1]));
      return;
    }
    $("patient-title").textContent = "Alert not found";
    $("patient-meta").textContent = `No alert ${parts[1]} is known to this dashboard (it may be older than its history).`;
    $("patient-body").replaceChildren();
    toggleViews(true);
    return;
  }
  if (parts[0] === "patients" && parts[1]) {
    toggleViews(true);
    window.scrollTo(0, 0);
    await showPatient(parts[1], params.get("alert"), params.get("encounter"));
    return;
  }
  hidePatient();
  toggleViews(false);
}

function toggleViews(patient) {
  $("board-view").classList.toggle("hidden", patient);
  $("patient-view").classList.toggle("hidden", !patient);
}

document.addEventListener("DOMContentLoaded", () => {
  $("critical-dismiss").addEventListener("click", dismissCritical);
  $("critical-show").addEventListener("click", showBannerAlert);
  $("change-name").addEventListener("click", () => askName());
  $("sign-out").addEventListener("click", signOut);
  for (const [id, view] of [["view-urgent", "urgent"], ["view-ward", "ward"]]) {
    $(id).addEventListener("click", () => {
      ctx.prefs.view = view;
      savePrefs(ctx.prefs);
      render();
    });
  }
  $("ward-filter").addEventListener("change", (event) => {
    ctx.prefs.ward = event.target.value;
    savePrefs(ctx.prefs);
    render();
  });
  $("burden").addEventListener("toggle", () => {
    if ($("burden").open) loadBurden();
  });
  window.addEventListener("hashchange", route);
  showWho();
  render();
  renderResolved();
  route();
  connect().then(loadNotice);
  // Ages, flashes and the 24-h window move with the clock, not only with events.
  setInterval(() => {
    const now = Date.now();
    ctx.flashUntil = new Map([...ctx.flashUntil].filter(([, until]) => until > now));
    render();
    renderResolved();
    if ($("burden").open) loadBurden();
    // Orders read after the alert's last transition (topics are read independently) show up here.
    for (const patientId of new Set([...ctx.alerts.values()].map((a) => a.patient_id))) loadOrders(patientId);
  }, 30000);
});
