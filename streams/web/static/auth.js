// The page's access token and acknowledging name (kept for the tab only), and authenticated API reads.

const TOKEN_KEY = "lytewatch.token";
const NAME_KEY = "lytewatch.ackName";
const $ = (id) => document.getElementById(id);

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

let pendingToken = null; // one dialog for every request that met a 401 at the same time

export function askToken(rejected) {
  if (pendingToken) return pendingToken;
  pendingToken = new Promise((resolve) => {
    const dialog = $("token-dialog");
    $("token-error").classList.toggle("hidden", !rejected);
    $("token-input").value = "";
    $("token-form").onsubmit = (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      dialog.close();
      pendingToken = null;
      resolve();
    };
    if (!dialog.open) dialog.showModal();
  });
  return pendingToken;
}

export function ackName() {
  return sessionStorage.getItem(NAME_KEY);
}

export function showName() {
  const name = ackName();
  $("whoami-text").textContent = name ? `Acknowledging as ${name}` : "Not signed for acknowledgements";
  $("change-name").textContent = name ? "change" : "set name";
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

// GET an API path with the token; asks for the token again on 401. Resolves to {status, body}.
export async function apiGet(path, as = "json") {
  for (;;) {
    let response;
    try {
      response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
    } catch (err) {
      return { status: 0, body: null };
    }
    if (response.status === 401) {
      await askToken(token() !== "");
      continue;
    }
    if (!response.ok) return { status: response.status, body: null };
    return { status: response.status, body: as === "json" ? await response.json() : await response.text() };
  }
}
