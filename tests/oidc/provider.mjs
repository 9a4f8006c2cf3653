// Starts oidc-provider on 127.0.0.1:PORT with one confidential client whose redirect URI is
// REDIRECT_URI, its development login and consent pages (any user name signs in), and
// accounts whose groups follow their names: "admin…" users are in "twinhub-admins", others
// in "acme-publishers". Prints "ready" when listening. Test-only: run by tests/api/oidc.rs.
import Provider from 'oidc-provider';

const [port, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'twinhub',
    client_secret: 'twinhub-test-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'groups'],
    email: ['email'],
  },
  // Put the requested claims into the ID token, which is all twinhub reads.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['twinhub-test-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          email: `${id}@example.com`,
          groups: id.startsWith('admin') ? ['twinhub-admins'] : ['acme-publishers'],
        };
      },
    };
  },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log('ready');
});
