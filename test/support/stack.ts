import http from 'node:http';
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
  async signIn(browser: TestBrowser, username: string, returnTo = '/'): Promise<Response> {
    const toIdp = await browser.get(`${this.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}`);
    if (toIdp.status !== 302) throw new Error(`login answered ${toIdp.status}`);
    const loginPage = await browser.get(toIdp.headers.location!, { follow: true });
    const form = parseForm(loginPage.body, loginPage.url);
    const afterLogin = await browser.post(form.action, { form: { ...form.fields, username, password: 'password' } });
    return this.followToBff(browser, afterLogin);
  }

  /** Follows redirects until the BFF's callback has answered; returns the callback's response. */
  async followToBff(browser: TestBrowser, res: Response): Promise<Response> {
    let current = res;
    for (let hop = 0; hop < 10; hop++) {
      const location = current.headers.location;
      if (current.status < 300 || current.status >= 400 || !location) return current;
      const next = new URL(location, current.url).toString();
      current = await browser.get(next);
      if (next.startsWith(`${this.url}/auth/callback`)) return current;
    }
    throw new Error('sign-in did not come back to the BFF');
  }

  close() {
    return this.bff.close();
  }
}

/** A stack whose in-memory stores the test can look into (one Map, keys `namespace:key`). */
export async function startInspectableStack(env: Record<string, string> = {}, options: { logger?: Logger } = {}) {
  const { createStores } = await import('../../server/stores');
  const memory = new Map<string, unknown>();
  const stack = await startStack(env, { ...options, stores: createStores({}, { memory }) });
  return { stack, memory, keys: (prefix = '') => [...memory.keys()].filter((k) => k.startsWith(prefix)) };
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
