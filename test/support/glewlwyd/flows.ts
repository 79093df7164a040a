import { createHash, randomBytes } from 'node:crypto';
import { TestBrowser, type Response } from '../browser';
import { GLEWLWYD_PASSWORD, GlewlwydApi, glewlwydLogin, type GlewlwydClient } from './setup';

/** Where a flow reaches Glewlwyd: its origin and its API root (`${url}/api`). */
export interface GlewlwydEndpoint {
  url: string;
  apiUrl: string;
}

/** Every hop of a sign-in, for failure messages and for reports. */
export interface GlewlwydSignIn {
  /** The BFF's answer at /auth/callback (undefined when the flow never got there). */
  callback?: Response;
  hops: { status: number; url: string; location?: string }[];
}

/**
 * A sign-in at the BFF with Glewlwyd as the IdP, over HTTP as its web app would do it. The
 * authorization endpoint always redirects to login.html?callback_url=<the authorization
 * request>, even when the session is signed in; login.html (a JavaScript app) signs the user in
 * with `POST /api/auth/` and, on "continue", loads callback_url with `&g_continue` appended: only
 * then does the endpoint redirect with the code. Consent was granted at set-up.
 */
export async function signInWithGlewlwyd(
  browser: TestBrowser,
  bffUrl: string,
  glewlwyd: GlewlwydEndpoint,
  username: string,
  options: { returnTo?: string; password?: string; started?: Response } = {},
): Promise<GlewlwydSignIn> {
  const hops: GlewlwydSignIn['hops'] = [];
  const record = (r: Response) => {
    hops.push({ status: r.status, url: r.url, location: r.headers.location });
    return r;
  };
  let res = record(options.started ?? (await browser.get(`${bffUrl}/auth/login?returnTo=${encodeURIComponent(options.returnTo ?? '/')}`)));
  for (let hop = 0; hop < 12; hop++) {
    const location = res.headers.location;
    if (res.status < 300 || res.status >= 400 || !location) return { hops };
    const next = new URL(location, res.url);
    if (next.origin === glewlwyd.url && next.pathname === '/login.html') {
      const callbackUrl = next.searchParams.get('callback_url');
      if (!callbackUrl) return { hops };
      // Single sign-on: an IdP session already signed in as this user skips the password.
      if ((await currentGlewlwydUser(browser, glewlwyd)) !== username) await glewlwydLogin(browser, glewlwyd.apiUrl, username, options.password ?? GLEWLWYD_PASSWORD);
      res = record(await browser.get(`${callbackUrl}${callbackUrl.includes('?') ? '&' : '?'}g_continue`));
      continue;
    }
    res = record(await browser.get(next.toString()));
    if (next.origin === new URL(bffUrl).origin && next.pathname === '/auth/callback') return { callback: res, hops };
  }
  return { hops };
}

/** Whether a sign-in went through on the browser's Glewlwyd session alone. */
export interface PasswordlessAttempt {
  /** True when Glewlwyd issued a code and the BFF's callback signed the user in. */
  signedIn: boolean;
  /** False when Glewlwyd sent the browser back to login.html: its page then asks for the password. */
  hops: GlewlwydSignIn['hops'];
}

/**
 * A sign-in at the BFF that never gives a password: /auth/login to Glewlwyd, then straight to
 * login.html's "Continue" (the authorization request with `g_continue`). Glewlwyd issues a code
 * only to a signed-in session (single sign-on); without one it answers with login.html again.
 */
export async function signInWithoutPassword(browser: TestBrowser, bffUrl: string, glewlwyd: GlewlwydEndpoint): Promise<PasswordlessAttempt> {
  const hops: GlewlwydSignIn['hops'] = [];
  const record = (r: Response) => {
    hops.push({ status: r.status, url: r.url, location: r.headers.location });
    return r;
  };
  let res = record(await browser.get(`${bffUrl}/auth/login?returnTo=%2F`));
  let continued = false;
  for (let hop = 0; hop < 8 && res.status >= 300 && res.status < 400 && res.headers.location; hop++) {
    const next = new URL(res.headers.location, res.url);
    if (next.origin === glewlwyd.url && next.pathname === '/login.html') {
      const callbackUrl = next.searchParams.get('callback_url');
      if (continued || !callbackUrl) return { signedIn: false, hops };
      continued = true;
      res = record(await browser.get(`${callbackUrl}${callbackUrl.includes('?') ? '&' : '?'}g_continue`));
      continue;
    }
    res = record(await browser.get(next.toString()));
    if (next.origin === new URL(bffUrl).origin && next.pathname === '/auth/callback') return { signedIn: res.status === 302, hops };
  }
  return { signedIn: false, hops };
}

/** Another app's sign-in, and the ID token it holds for RP-initiated logout. */
export interface AnotherAppSignIn {
  /** False when the browser's Glewlwyd session was enough (single sign-on). */
  askedForPassword: boolean;
  idToken: string;
  /** The ID token's sid: Glewlwyd's OIDC session, shared by every app signed in from this browser. */
  sid: string;
}

/**
 * `app` signs `username` in from the same browser (code flow with PKCE, as login.html lets it),
 * then its server redeems the code: the ID token another app would send as id_token_hint.
 */
export async function signInAnotherApp(
  browser: TestBrowser,
  glewlwyd: GlewlwydEndpoint & { authority: string; ca: string },
  app: GlewlwydClient,
  username: string,
): Promise<AnotherAppSignIn> {
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${glewlwyd.authority}/auth`);
  for (const [name, value] of Object.entries({
    client_id: app.clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: app.redirectUri,
    state: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(name, value);
  }
  const toLogin = await browser.get(authorize.toString());
  const callbackUrl = toLogin.headers.location ? new URL(toLogin.headers.location, authorize).searchParams.get('callback_url') : null;
  if (!callbackUrl) throw new Error(`${app.clientId}: Glewlwyd's authorization endpoint answered ${toLogin.status} ${toLogin.headers.location ?? toLogin.body}`);
  const askedForPassword = (await currentGlewlwydUser(browser, glewlwyd)) !== username;
  if (askedForPassword) await glewlwydLogin(browser, glewlwyd.apiUrl, username);
  const redirect = await browser.get(`${callbackUrl}&g_continue`);
  const code = redirect.headers.location?.startsWith(app.redirectUri) ? new URL(redirect.headers.location).searchParams.get('code') : null;
  if (!code) throw new Error(`${app.clientId}: no code from Glewlwyd (${redirect.status} ${redirect.headers.location ?? redirect.body})`);
  // The app's server, not the browser, redeems the code: the tokens never reach `browser`.
  const token = await new TestBrowser(glewlwyd.ca).post(`${glewlwyd.authority}/token`, {
    form: { grant_type: 'authorization_code', code, redirect_uri: app.redirectUri, client_id: app.clientId, client_secret: app.clientSecret, code_verifier: verifier },
  });
  if (token.status !== 200) throw new Error(`${app.clientId}: Glewlwyd's token endpoint answered ${token.status}: ${token.body}`);
  const idToken: string = token.json().id_token;
  const { sid } = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString('utf8')) as { sid: string };
  return { askedForPassword, idToken, sid };
}

/** The end-session URL `app` sends the browser to: its own ID token as id_token_hint (RP-Initiated Logout 1.0 §2). */
export function endSessionUrlOf(glewlwyd: { authority: string }, app: GlewlwydClient, idToken: string, state = 'signed-out-in-another-app'): string {
  const url = new URL(`${glewlwyd.authority}/end_session`);
  url.searchParams.set('id_token_hint', idToken);
  url.searchParams.set('post_logout_redirect_uri', app.postLogoutRedirectUri);
  url.searchParams.set('state', state);
  return url.toString();
}

/** The user Glewlwyd's session in `browser` is signed in as (profile_list's first), if any. */
export async function currentGlewlwydUser(browser: TestBrowser, glewlwyd: GlewlwydEndpoint): Promise<string | undefined> {
  const res = await new GlewlwydApi(browser, glewlwyd.apiUrl).request('GET', '/profile_list');
  return res.status === 200 ? (res.json()[0]?.username as string | undefined) : undefined;
}

/** What a sign-out at Glewlwyd did, step by step as its web app takes them. */
export interface GlewlwydSignOut {
  /**
   * end_session's answer: a 302 to login.html?prompt=end_session&sid=... when the id_token_hint
   * is valid; without one, a 200 with an empty body that ends nothing.
   */
  endSession: Response;
  /** `GET /api/<plugin>/session/<sid>/<client_id>`: the session's clients and their front-channel URIs. */
  sessionList?: Response;
  /** The front-channel logout URLs login.html puts in hidden iframes. */
  iframes: string[];
  /** Their answers, loaded by `loadIframes` (default: not loaded). */
  iframeResponses: Response[];
  /** `DELETE /api/<plugin>/session/<sid>`: Glewlwyd posts the back-channel logout tokens here. */
  sessionDelete?: Response;
  /** `DELETE /api/auth/`: the end of the Glewlwyd session itself. */
  authDelete?: Response;
  /** Where login.html goes last: post_logout_redirect_uri with state, when one was accepted. */
  next?: string;
}

/**
 * A sign-out at Glewlwyd from an end-session URL, in login.html's order: list the session's
 * clients, load the front-channel iframes, delete the OIDC session (back-channel logout), end
 * the Glewlwyd session, then go to callback_url.
 */
export async function signOutAtGlewlwyd(
  browser: TestBrowser,
  endSessionUrl: string,
  glewlwyd: GlewlwydEndpoint,
  options: {
    /** Loads the front-channel iframes (e.g. stack.ts's loadIframes: cross-site, so no cookie). */
    loadIframes?: (urls: string[]) => Promise<Response[]>;
  } = {},
): Promise<GlewlwydSignOut> {
  const endSession = await browser.get(endSessionUrl);
  const location = endSession.headers.location;
  const none: GlewlwydSignOut = { endSession, iframes: [], iframeResponses: [] };
  if (endSession.status !== 302 || !location) return none;
  const page = new URL(location, endSessionUrl);
  const params = page.searchParams;
  const [sid, plugin, clientId] = [params.get('sid'), params.get('plugin'), params.get('client_id')];
  if (page.origin !== glewlwyd.url || params.get('prompt') !== 'end_session' || !sid || !plugin || !clientId) return none;

  const api = new GlewlwydApi(browser, glewlwyd.apiUrl);
  const postRedirectTo = params.get('post_redirect_to');
  const sessionList = await api.request('GET', `/${plugin}/session/${sid}/${clientId}${postRedirectTo ? `?post_redirect_to=${encodeURIComponent(postRedirectTo)}` : ''}`);
  const list = sessionList.status === 200 ? sessionList.json() : undefined;
  // login.js builds these by concatenation: iss and sid are not URL-encoded.
  const iframes: string[] = (list?.client ?? []).map(
    (c: { frontchannel_logout_uri: string; frontchannel_logout_session_required?: boolean }) =>
      `${c.frontchannel_logout_uri}?iss=${list.iss}${c.frontchannel_logout_session_required ? `&sid=${list.sid}` : ''}`,
  );
  const iframeResponses = options.loadIframes ? await options.loadIframes(iframes) : [];
  const sessionDelete = await api.request('DELETE', `/${plugin}/session/${sid}`);
  const authDelete = await api.request('DELETE', '/auth/');
  const next = list?.post_redirect_to ? (params.get('callback_url') ?? undefined) : undefined;
  return { endSession, sessionList, iframes, iframeResponses, sessionDelete, authDelete, next };
}
