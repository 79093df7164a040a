import http from 'node:http';
import { userKey } from '../../server/stores/user-slot';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../server/config';
import { silentLogger, type Logger } from '../../server/log';
import { startBff, type RunningBff } from '../../server/start';
import type { Stores } from '../../server/stores';
import { parseForm, TestBrowser, type Response } from './browser';

export const TEST_SESSION_KEY = 'test-session-key-0123456789abcdef-0123456789';

/**
 * A whole stack on free loopback ports: the real dev IdP (HTTPS), the sample API and the BFF,
 * composed exactly as `npm start` composes them.
 */
export async function startStack(env: Record<string, string> = {}, options: { logger?: Logger; stores?: Stores } = {}): Promise<Stack> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, 'localhost', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const config = loadConfig({
    PORT: String(port),
    PUBLIC_URL: `http://localhost:${port}`,
    DEV_IDP_PORT: '0',
    SAMPLE_API_PORT: '0',
    SESSION_KEYS: TEST_SESSION_KEY,
    LOG_REQUESTS: '0',
    ...env,
  });
  const bff = await startBff(config, { server, logger: options.logger ?? silentLogger, stores: options.stores });
  return new Stack(bff);
}

export class Stack {
  constructor(readonly bff: RunningBff) {}

  get url() {
    return this.bff.url;
  }

  browser() {
    return new TestBrowser(this.bff.devIdp?.ca);
  }

  /** Signs in through the real flow: BFF → IdP login form → IdP → BFF callback. */
  signIn(browser: TestBrowser, username: string, returnTo = '/'): Promise<Response> {
    return signInAt(browser, this.url, username, returnTo);
  }

  close() {
    return this.bff.close();
  }
}

/** Signs in at the BFF at `bffUrl` through the real flow; returns the callback's response. */
export async function signInAt(
  browser: TestBrowser,
  bffUrl: string,
  username: string,
  returnTo = '/',
  /** The /auth/login answer, when the test made that request itself. */
  started?: Response,
  /** PUBLIC_URL, when the BFF is reached at another address (behind a TLS-terminating proxy). */
  publicUrl = bffUrl,
): Promise<Response> {
  let res = started ?? (await browser.get(`${bffUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`));
  if (res.status !== 302) throw new Error(`login answered ${res.status}: ${res.body}`);
  for (let hop = 0; hop < 12; hop++) {
    // An IdP session already there (single sign-on) skips the form.
    if (res.status === 200 && /name="password"/.test(res.body)) {
      const form = parseForm(res.body, res.url);
      res = await browser.post(form.action, { form: { ...form.fields, username, password: 'password' } });
      continue;
    }
    const location = res.headers.location;
    if (res.status < 300 || res.status >= 400 || !location) throw new Error(`sign-in stopped at ${res.status} ${res.url}`);
    let next = new URL(location, res.url).toString();
    const atCallback = next.startsWith(`${publicUrl}/auth/callback`);
    if (atCallback) next = `${bffUrl}${next.slice(publicUrl.length)}`;
    res = await browser.get(next);
    if (atCallback) return res;
  }
  throw new Error('sign-in did not come back to the BFF');
}

/** A stack whose in-memory stores the test can look into (one Map, keys `namespace:key`). */
export async function startInspectableStack(env: Record<string, string> = {}, options: { logger?: Logger } = {}) {
  const { createStores } = await import('../../server/stores');
  const memory = new Map<string, unknown>();
  const stack = await startStack(env, { ...options, stores: createStores({}, { memory }) });
  const keys = (prefix = '') => [...memory.keys()].filter((k) => k.startsWith(prefix));
  /** A user's token cache entry as MSAL serialized it (unsealed), or undefined. */
  const tokenCacheOf = (userId: string): TokenCacheJson | undefined => {
    const stored = memory.get(`tokens:${userKey(userId)}`);
    return stored === undefined ? undefined : JSON.parse(stack.bff.sealer.open(JSON.parse(String(stored)).value, userId));
  };
  const setTokenCache = (userId: string, cache: TokenCacheJson) => {
    const envelope = JSON.parse(String(memory.get(`tokens:${userKey(userId)}`)));
    memory.set(`tokens:${userKey(userId)}`, JSON.stringify({ ...envelope, value: stack.bff.sealer.seal(JSON.stringify(cache), userId) }));
  };
  return { stack, memory, keys, tokenCacheOf, setTokenCache };
}

export interface TokenCacheJson {
  Account: Record<string, { home_account_id: string }>;
  AccessToken: Record<string, { secret: string; expires_on: string; cached_at: string }>;
  RefreshToken: Record<string, { secret: string }>;
  IdToken: Record<string, { secret: string }>;
}

/** The same cache with every access token expired a minute ago, as time would do. */
export function withExpiredAccessTokens(cache: TokenCacheJson): TokenCacheJson {
  const expired = String(Math.floor(Date.now() / 1000) - 60);
  return { ...cache, AccessToken: Object.fromEntries(Object.entries(cache.AccessToken).map(([k, at]) => [k, { ...at, expires_on: expired }])) };
}

export const JWT_PATTERN = /eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]+/;

/** Every response a test browser received, as text: status line, headers and body. */
export function everythingReceived(browser: TestBrowser): string {
  return browser.received.map((r) => `${r.status} ${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`).join('\n');
}

/** What the dev IdP's logout page did: the front-channel iframes it rendered and where it went next. */
export interface IdpSignOut {
  iframes: string[];
  next: string | undefined;
  page: Response;
}

/**
 * Signs out at the IdP, as a user does on its logout page: open the end-session URL, confirm.
 * Returns the iframes of the front-channel page without loading them (see loadIframes).
 */
export async function signOutAtIdp(browser: TestBrowser, endSessionUrl: string): Promise<IdpSignOut> {
  const confirmPage = await browser.get(endSessionUrl, { follow: true });
  const form = parseForm(confirmPage.body, confirmPage.url);
  const page = await browser.post(form.action, { form: form.fields });
  const iframes = [...page.body.matchAll(/<iframe[^>]*src="([^"]+)"/g)].map((m) => m[1]!.replace(/&#38;/g, '&').replace(/&amp;/g, '&'));
  const next = page.status === 303 ? page.headers.location : /id="continue" href="([^"]+)"/.exec(page.body)?.[1]?.replace(/&#38;/g, '&');
  return { iframes, next, page };
}

/** Loads front-channel iframes as a cross-site iframe would: with no cookie at all. */
export async function loadIframes(urls: string[]): Promise<Response[]> {
  const cookieless = new TestBrowser();
  return Promise.all(urls.map((u) => cookieless.get(u)));
}

/**
 * The BFF in production mode (NODE_ENV=production: https PUBLIC_URL, required secrets, no dev
 * defaults), against the dev IdP and sample API started separately as a real deployment would
 * reach its IdP and API. The test talks plain HTTP to it, as a TLS-terminating proxy would.
 */
export async function startProductionStack(): Promise<{ bff: RunningBff; url: string; publicUrl: string; ca: string; close(): Promise<void> }> {
  const { startDevIdp } = await import('../../server/dev-idp');
  const { startSampleApi } = await import('../../server/sample-api');
  const { createOutbound } = await import('../../server/http/outbound');
  const { SAMPLE_API_AUDIENCE } = await import('../../server/dev-idp/provider');
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, 'localhost', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const publicUrl = `https://localhost:${port}`;
  const idp = await startDevIdp({ port: 0, bffOrigins: [publicUrl] });
  const outbound = createOutbound(idp.ca);
  const api = await startSampleApi({
    port: 0,
    issuer: idp.issuer,
    jwksUri: `${idp.issuer}/jwks`,
    audience: SAMPLE_API_AUDIENCE,
    requiredScope: 'api://sample-api/access_as_user',
    outbound,
  });
  const config = loadConfig({
    NODE_ENV: 'production',
    PORT: String(port),
    PUBLIC_URL: publicUrl,
    SESSION_KEYS: TEST_SESSION_KEY,
    TOKEN_CACHE_KEY: `prod:${Buffer.alloc(32, 9).toString('base64')}`,
    OIDC_AUTHORITY: idp.issuer,
    OIDC_CLIENT_ID: idp.clientId,
    OIDC_CLIENT_SECRET: idp.clientSecret,
    OIDC_CA_FILE: idp.caFile,
    API_BASE_URL: api.url,
    // One BFF on in-memory stores, said explicitly: production otherwise requires REDIS_URL.
    SINGLE_INSTANCE_MEMORY_STORES: '1',
    LOG_REQUESTS: '0',
  });
  const bff = await startBff(config, { server, logger: silentLogger });
  return {
    bff,
    url: `http://localhost:${port}`,
    publicUrl,
    ca: idp.ca,
    close: async () => {
      await bff.close();
      await api.close();
      await idp.close();
      outbound.close();
    },
  };
}
