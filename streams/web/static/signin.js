// Before sign-in: go on to the identity provider, remembering the whole address, #fragment included.
const next = new URLSearchParams(location.search).get("next") || "/";
location.replace(`/auth/login?return_to=${encodeURIComponent(next + location.hash)}`);
