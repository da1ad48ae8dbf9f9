// Who the page is signed in as (/auth/me), sign-in and sign-out, the CSRF header of its POSTs, and API reads.

const TOKEN_KEY = "lytewatch.token";
const NAME_KEY = "lytewatch.ackName";
const $ = (id) => document.getElementById(id);

let me = null; // the last /auth/me answer: {mode, signed_in, kind, name, subject, role, can_acknowledge, needs_name, csrf_token}

export function whoami() {
  return me;
}

export async function loadMe() {
  try {
    const response = await fetch("/auth/me", { cache: "no-store" });
    if (response.ok) me = await response.json();
  } catch (err) {
    // No answer: keep what we knew; the connection status says the server is unreachable.
  }
  showWho();
  return me;
}

// POSTs made with the session cookie must show the session's CSRF token, which another site cannot read.
export function csrfHeaders() {
  return me && me.csrf_token ? { "X-CSRF-Token": me.csrf_token } : {};
}

let pendingSignIn = null; // one sign-in for every request that met a 401 at the same time

// Sign in: OpenID Connect leaves the page for the identity provider; token mode asks for the token once
// and trades it for a session cookie (so the event stream needs no token in its URL).
export function signIn(rejected) {
  if (pendingSignIn) return pendingSignIn;
  pendingSignIn = (async () => {
    if (!me) await loadMe();
    if (!me || me.mode === "oidc") {
      const back = location.pathname + location.search + location.hash;
      location.assign(`/auth/login?return_to=${encodeURIComponent(back)}`);
      await new Promise(() => {}); // the page is leaving
    }
    // The token this tab was given first: a 401 may only mean the dashboard restarted with a new cookie key.
    let stored = sessionStorage.getItem(TOKEN_KEY);
    let refused = rejected && !stored;
    for (;;) {
      const offered = stored || (await askToken(refused));
      stored = null;
      if (await tradeToken(offered)) break;
      sessionStorage.removeItem(TOKEN_KEY);
      refused = true;
    }
    pendingSignIn = null;
  })();
  return pendingSignIn;
}

async function tradeToken(offered) {
  let response;
  try {
    response = await fetch("/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${offered}` },
      body: "{}",
    });
  } catch (err) {
    return false;
  }
  if (!response.ok) return false;
  sessionStorage.setItem(TOKEN_KEY, offered);
  me = await response.json();
  showWho();
  return true;
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
      dialog.close();
      resolve(value);
    };
    if (!dialog.open) dialog.showModal();
  });
}

export async function signOut() {
  let target = "/auth/signed-out";
  try {
    const response = await fetch("/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...csrfHeaders() },
      body: "{}",
    });
    if (response.ok) target = (await response.json()).redirect;
  } catch (err) {
    // Unreachable: the cookie stays until it expires; say so on the signed-out page anyway.
  }
  sessionStorage.removeItem(TOKEN_KEY);
  location.assign(target);
}

// A typed name, only where no identity is verified (no sign-in, or the one shared token).
export function ackName() {
  return sessionStorage.getItem(NAME_KEY);
}

export function showWho() {
  const text = $("whoami-text");
  const change = $("change-name");
  const out = $("sign-out");
  out.classList.toggle("hidden", !(me && me.signed_in && me.mode !== "none"));
  if (me && me.signed_in && !me.needs_name) {
    const who = me.kind === "person" ? me.name : `token ${me.name}`;
    text.textContent = me.can_acknowledge ? `Signed in as ${who}` : `Signed in as ${who} (viewer: cannot acknowledge)`;
    change.classList.add("hidden");
    return;
  }
  const name = ackName();
  change.classList.remove("hidden");
  text.textContent = name ? `Acknowledging as ${name}` : "Not signed for acknowledgements";
  change.textContent = name ? "change" : "set name";
}

export function askName() {
  return new Promise((resolve) => {
    const dialog = $("name-dialog");
    $("name-input").value = ackName() || "";
    $("name-form").onsubmit = (event) => {
      event.preventDefault();
      const value = $("name-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(NAME_KEY, value);
      dialog.close();
      showWho();
      resolve(value);
    };
    $("name-cancel").onclick = () => {
      dialog.close();
      resolve(null);
    };
    dialog.showModal();
  });
}

// GET an API path (the session cookie goes along); signs in again on 401. Resolves to {status, body}.
export async function apiGet(path, as = "json") {
  for (;;) {
    let response;
    try {
      response = await fetch(path, { cache: "no-store" });
    } catch (err) {
      return { status: 0, body: null };
    }
    if (response.status === 401) {
      await signIn(true);
      continue;
    }
    if (!response.ok) return { status: response.status, body: null };
    return { status: response.status, body: as === "json" ? await response.json() : await response.text() };
  }
}
