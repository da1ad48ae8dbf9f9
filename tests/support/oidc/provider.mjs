// A real OpenID provider for the dashboard's sign-in tests: node-oidc-provider with its development
// login form (any password), one public client using PKCE, and two accounts whose `roles` claim makes
// one a viewer and the other an acknowledger. Usage: node provider.mjs <issuer URL> <port> <redirect
// URI> <post-logout redirect URI>. Prints "ready" once it listens.
import Provider from "oidc-provider";

const [issuer, port, redirectUri, postLogoutUri] = process.argv.slice(2);

const ACCOUNTS = {
  "vera.viewer": { name: "Vera Viewer", roles: ["lytewatch-viewer"] },
  "ada.acker": { name: "Ada Acker", roles: ["lytewatch-acknowledger", "ward-4w"] },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "lytewatch-dashboard",
      token_endpoint_auth_method: "none",
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [postLogoutUri],
      response_types: ["code"],
      grant_types: ["authorization_code"],
    },
  ],
  claims: { openid: ["sub"], profile: ["name"], roles: ["roles"] },
  scopes: ["openid", "profile", "roles"],
  // Put the scope's claims into the ID token itself: the dashboard reads roles from it.
  conformIdTokenClaims: false,
  cookies: { keys: ["lytewatch-test-oidc-cookie-key"] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
  // A first-party application: the hospital has consented for its staff, so no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid profile roles");
    await grant.save();
    return grant;
  },
});

const server = provider.listen(Number(port), "127.0.0.1", () => console.log("ready"));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
