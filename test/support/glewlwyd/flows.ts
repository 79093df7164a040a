import { TestBrowser, type Response } from '../browser';
import { GLEWLWYD_PASSWORD, GlewlwydApi, glewlwydLogin } from './setup';

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
