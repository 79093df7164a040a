import { generateKeyPairSync } from 'node:crypto';
import { TestBrowser, type Response } from '../browser';

/** The seeded users: the same names and password as the dev IdP's. */
export const GLEWLWYD_USERS = {
  alice: { name: 'Alice Example', email: 'alice@example.test' },
  bob: { name: 'Bob Example', email: 'bob@example.test' },
} as const;
export type GlewlwydUser = keyof typeof GLEWLWYD_USERS;
export const GLEWLWYD_PASSWORD = 'password';
/** The database's built-in administrator (init.sqlite3.sql). */
const ADMIN = { username: 'admin', password: 'password' };

/** Scopes created next to Glewlwyd's own `openid`; `api` stands for a downstream API. */
export const GLEWLWYD_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'api'] as const;

/** A cookie session on Glewlwyd's REST API (`POST /api/auth/`), as its web app holds one. */
export class GlewlwydApi {
  constructor(
    readonly browser: TestBrowser,
    readonly apiUrl: string,
  ) {}

  request(method: string, apiPath: string, body?: unknown): Promise<Response> {
    return this.browser.request(`${this.apiUrl}${apiPath}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** The same, and an error naming the call when the answer is not 2xx. */
  async expectOk(method: string, apiPath: string, body?: unknown): Promise<Response> {
    const res = await this.request(method, apiPath, body);
    if (res.status < 200 || res.status >= 300) throw new Error(`Glewlwyd ${method} /api${apiPath} answered ${res.status}: ${res.body}`);
    return res;
  }
}

/** Signs `username` in to Glewlwyd's session in `browser` (password scheme), as login.html does. */
export async function glewlwydLogin(browser: TestBrowser, apiUrl: string, username: string, password = GLEWLWYD_PASSWORD): Promise<GlewlwydApi> {
  const api = new GlewlwydApi(browser, apiUrl);
  await api.expectOk('POST', '/auth/', { username, password });
  return api;
}

export interface RealmOptions {
  url: string;
  ca: string;
  bffOrigin: string;
  pluginName: string;
  clientId: string;
  clientSecret: string;
  accessTokenSeconds: number;
}

export interface GlewlwydRealm {
  pluginName: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** `${url}/api`. */
  apiUrl: string;
  /** The administrator's session: inspect or revoke things (`admin.request('GET', '/user/alice')`). */
  admin: GlewlwydApi;
  /** What was registered for the BFF client. */
  registered: { redirectUri: string; postLogoutRedirectUri: string; frontchannelLogoutUri: string; backchannelLogoutUri: string };
}

/** Everything the tests need at Glewlwyd, created through its admin REST API. */
export async function configureGlewlwyd(o: RealmOptions): Promise<GlewlwydRealm> {
  const apiUrl = `${o.url}/api`;
  const admin = await glewlwydLogin(new TestBrowser(o.ca), apiUrl, ADMIN.username, ADMIN.password);

  // The client backend's data-format declares `post_logout_redirect_uri` (single); the OIDC plugin
  // matches end_session's post_logout_redirect_uri against the list `post_logout_redirect_uris`.
  const clientModule = (await admin.expectOk('GET', '/mod/client/database')).json();
  clientModule.parameters['data-format'].post_logout_redirect_uris = { multiple: true, read: true, write: true };
  await admin.expectOk('PUT', '/mod/client/database', clientModule);
  await admin.expectOk('PUT', '/mod/client/database/reset');

  for (const scope of GLEWLWYD_SCOPES.filter((s) => s !== 'openid')) {
    await admin.expectOk('POST', '/scope/', { name: scope, display_name: scope, description: `${scope} (test)`, password_required: false, scheme: {} });
  }

  for (const [username, profile] of Object.entries(GLEWLWYD_USERS)) {
    await admin.expectOk('POST', '/user/', {
      username,
      name: profile.name,
      email: profile.email,
      password: GLEWLWYD_PASSWORD,
      // g_profile: the user's own session may then grant consent (PUT /api/auth/grant/...).
      scope: [...GLEWLWYD_SCOPES, 'g_profile'],
      enabled: true,
    });
  }

  const issuer = `${apiUrl}/${o.pluginName}`;
  await admin.expectOk('POST', '/mod/plugin/', { module: 'oidc', name: o.pluginName, display_name: 'OpenID Connect (tests)', enabled: true, parameters: oidcPluginParameters(issuer, o) });

  const registered = {
    redirectUri: `${o.bffOrigin}/auth/callback`,
    postLogoutRedirectUri: `${o.bffOrigin}/`,
    frontchannelLogoutUri: `${o.bffOrigin}/auth/frontchannel-logout`,
    backchannelLogoutUri: `${o.bffOrigin}/auth/backchannel-logout`,
  };
  await admin.expectOk('POST', '/client/', {
    client_id: o.clientId,
    name: 'BFF (tests)',
    enabled: true,
    confidential: true,
    client_secret: o.clientSecret,
    // MSAL Node posts the secret in the body.
    token_endpoint_auth_method: ['client_secret_post'],
    authorization_type: ['code', 'refresh_token'],
    redirect_uri: [registered.redirectUri],
    post_logout_redirect_uris: [registered.postLogoutRedirectUri],
    frontchannel_logout_uri: registered.frontchannelLogoutUri,
    frontchannel_logout_session_required: 'true',
    backchannel_logout_uri: registered.backchannelLogoutUri,
    backchannel_logout_session_required: 'true',
    scope: [],
  });

  // Consent given ahead of time, so a sign-in is the password alone (no consent screen). The
  // scope list is space-separated (API.md says comma-separated; that answers 401).
  for (const username of Object.keys(GLEWLWYD_USERS)) {
    const user = await glewlwydLogin(new TestBrowser(o.ca), apiUrl, username);
    await user.expectOk('PUT', `/auth/grant/${encodeURIComponent(o.clientId)}`, { scope: GLEWLWYD_SCOPES.join(' ') });
  }

  return { pluginName: o.pluginName, issuer, clientId: o.clientId, clientSecret: o.clientSecret, apiUrl, admin, registered };
}

/**
 * Switches Glewlwyd's front-channel and back-channel logout to the BFF on or off: the client's
 * logout URIs are there or not (Glewlwyd lists a client for front-channel iframes, and posts it
 * a logout token, only when it has the URI). PUT /client/<id> replaces the whole client.
 * `backchannelLogoutUri` replaces the registered one (e.g. a relay that records the tokens).
 */
export async function setLogoutChannels(
  realm: Pick<GlewlwydRealm, 'admin' | 'clientId' | 'registered'>,
  channels: { frontchannel: boolean; backchannel: boolean; backchannelLogoutUri?: string },
): Promise<void> {
  const client = (await realm.admin.expectOk('GET', `/client/${encodeURIComponent(realm.clientId)}`)).json();
  for (const key of ['frontchannel_logout_uri', 'frontchannel_logout_session_required', 'backchannel_logout_uri', 'backchannel_logout_session_required', 'source']) delete client[key];
  await realm.admin.expectOk('PUT', `/client/${encodeURIComponent(realm.clientId)}`, {
    ...client,
    ...(channels.frontchannel ? { frontchannel_logout_uri: realm.registered.frontchannelLogoutUri, frontchannel_logout_session_required: 'true' } : {}),
    ...(channels.backchannel ? { backchannel_logout_uri: channels.backchannelLogoutUri ?? realm.registered.backchannelLogoutUri, backchannel_logout_session_required: 'true' } : {}),
  });
}

/** Another relying party of the same Glewlwyd: "another app" of the user's IdP session. */
export interface GlewlwydClient {
  clientId: string;
  clientSecret: string;
  /** Never loaded: the flow reads the code from Glewlwyd's redirect to it. */
  redirectUri: string;
  postLogoutRedirectUri: string;
}

export const ANOTHER_APP: GlewlwydClient = {
  clientId: 'another-app',
  clientSecret: 'glewlwyd-test-another-app-secret-0123456789',
  redirectUri: 'http://localhost:9/another-app/callback',
  postLogoutRedirectUri: 'http://localhost:9/another-app/',
};

/**
 * Registers `app` as a confidential client (code flow, no logout URIs of its own), with every
 * seeded user's consent to `openid`, as configureGlewlwyd does for the BFF.
 */
export async function registerClient(realm: Pick<GlewlwydRealm, 'admin' | 'apiUrl'> & { ca: string }, app: GlewlwydClient = ANOTHER_APP): Promise<GlewlwydClient> {
  await realm.admin.expectOk('POST', '/client/', {
    client_id: app.clientId,
    name: `${app.clientId} (tests)`,
    enabled: true,
    confidential: true,
    client_secret: app.clientSecret,
    token_endpoint_auth_method: ['client_secret_post'],
    authorization_type: ['code'],
    redirect_uri: [app.redirectUri],
    post_logout_redirect_uris: [app.postLogoutRedirectUri],
    scope: [],
  });
  for (const username of Object.keys(GLEWLWYD_USERS)) {
    const user = await glewlwydLogin(new TestBrowser(realm.ca), realm.apiUrl, username);
    await user.expectOk('PUT', `/auth/grant/${encodeURIComponent(app.clientId)}`, { scope: 'openid' });
  }
  return app;
}

function oidcPluginParameters(issuer: string, o: RealmOptions) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    iss: issuer,
    'subject-type': 'public',
    'jwt-type': 'rsa',
    'jwt-key-size': '256',
    key: privateKey.export({ type: 'pkcs1', format: 'pem' }),
    cert: publicKey.export({ type: 'spki', format: 'pem' }),
    'jwks-show': true,
    'access-token-duration': o.accessTokenSeconds,
    'refresh-token-duration': 1209600,
    'refresh-token-rolling': true,
    'code-duration': 600,
    'allow-non-oidc': false,
    'auth-type-code-enabled': true,
    'auth-type-token-enabled': false,
    'auth-type-id-token-enabled': true,
    'auth-type-none-enabled': false,
    'auth-type-password-enabled': false,
    'auth-type-client-enabled': false,
    'auth-type-device-enabled': false,
    'auth-type-refresh-enabled': true,
    'allowed-scope': [...GLEWLWYD_SCOPES],
    // Display claims in every ID token (MSAL's account reads name, preferred_username, email).
    'name-claim': 'mandatory',
    'name-claim-scope': [],
    'email-claim': 'mandatory',
    'email-claim-scope': [],
    'scope-claim': 'no',
    claims: [{ name: 'preferred_username', 'user-property': 'username', type: 'string', mandatory: true, 'on-demand': false, scope: [] }],
    'pkce-allowed': true,
    'pkce-method-plain-allowed': false,
    'pkce-required': true,
    'pkce-required-public-client': true,
    'introspection-revocation-allowed': true,
    'introspection-revocation-allow-target-client': true,
    'introspection-revocation-auth-scope': [],
    'register-client-allowed': false,
    // sid in ID tokens, end_session, front- and back-channel logout.
    'session-management-allowed': true,
    'session-cookie-name': 'GLEWLWYD2_OIDC_SID',
    'session-cookie-expiration': 86400,
    'front-channel-logout-allowed': true,
    'back-channel-logout-allowed': true,
    'request-parameter-allow': false,
  };
}
