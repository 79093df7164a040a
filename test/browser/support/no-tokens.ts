import { readdirSync, readFileSync } from 'node:fs';
import { userOfKey } from '../../support/keys';
import path from 'node:path';
import type { BrowserContext, Page, Response } from 'playwright-core';
import { expect } from 'vitest';
import { TokenSealer } from '../../../server/auth/token-encryption';
import type { Stack } from '../../support/stack';

export const JWT = /eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]+/;
const TEXT_TYPES = /text\/|application\/json|javascript/i;
const LOGOUT_PATH = '/auth/logout';
/**
 * Answers whose page may go before their body is read: /auth/logout (the SPA leaves for the IdP's
 * end session), /auth/session (a silent sign-in), /auth/frontchannel-logout (an iframe of the
 * IdP's logout page, which moves on once its iframes have loaded).
 */
const READ_ON_THE_WAY = [LOGOUT_PATH, '/auth/session', '/auth/frontchannel-logout'];
const END_SESSION_PATH = '/auth/end-session';

interface Seen {
  where: string;
  text: string;
}

/**
 * The BFF's in-memory store, remembering every token cache entry ever written (a sign-out
 * deletes them), so a test can learn the real refresh tokens the BFF held and look for them.
 */
export class RecordingMemory extends Map<string, unknown> {
  readonly tokenWrites: { key: string; value: string }[] = [];

  override set(key: string, value: unknown): this {
    if (key.startsWith('tokens:')) this.tokenWrites.push({ key, value: String(value) });
    return super.set(key, value);
  }
}

/**
 * "No token or secret ever reaches the browser", checked on everything the browser got during
 * a test: every response from the BFF (headers and text bodies, JavaScript included), the BFF
 * origin's storage (localStorage, sessionStorage, IndexedDB, cookies readable by script), URLs
 * and the built SPA's JavaScript. It looks for JWTs, the BFF's client secret, and the exact
 * refresh, access and ID tokens that were issued: the BFF's own (from its token cache) and
 * another app's (from the IdP's answers to it; another app keeps them in its own origin's
 * storage, which is legitimate and not scanned).
 */
export class TokenWatch {
  private readonly fromBff: Seen[] = [];
  private readonly storage: Seen[] = [];
  private readonly unread: string[] = [];
  private readonly urls: string[] = [];
  private readonly pending: Promise<unknown>[] = [];
  private readonly issued = { refresh: new Set<string>(), other: new Set<string>() };

  constructor(
    private readonly stack: Stack,
    private readonly memory: RecordingMemory,
  ) {}

  private get bffOrigin() {
    return new URL(this.stack.url).origin;
  }

  private get idpOrigin() {
    return new URL(this.stack.bff.idp.issuer).origin;
  }

  /** Records every response the context's pages and frames receive. */
  async watch(context: BrowserContext) {
    context.on('request', (request) => this.urls.push(request.url()));
    context.on('response', (response) => this.pending.push(withTimeout(this.record(response), () => this.unread.push(response.url()))));
    // The SPA leaves for the IdP as soon as it has read these answers, and Chromium drops the
    // body with the page: read them on the way instead, and pass the same response on unchanged.
    for (const path of READ_ON_THE_WAY) {
      // Matched by origin and path, whatever the query (the front-channel URL carries sid and iss).
      await context.route((url) => url.origin === this.bffOrigin && url.pathname === path, async (route) => {
        const response = await route.fetch({ maxRedirects: 0 });
        this.fromBff.push({ where: `the body of ${route.request().method()} ${path}`, text: await response.text() });
        await route.fulfill({ response });
      });
    }
  }

  /** The BFF origin's storage as the page's own scripts see it. */
  async snapshotStorage(page: Page, when: string) {
    const origin = new URL(page.url()).origin;
    if (origin !== this.bffOrigin) throw new Error(`snapshotStorage(${when}): the page is at ${origin}, not the BFF`);
    this.storage.push({ where: `storage of ${origin} (${when})`, text: await page.evaluate(DUMP_STORAGE) });
  }

  /**
   * Fails the test on any token found; returns how many real tokens it looked for. URLs are
   * checked at the BFF's origin, or at every origin with `everyUrl` (not when another app ran:
   * its logout URL carries its own ID token as id_token_hint, as RP-initiated logout does).
   */
  async verify({ everyUrl = false } = {}) {
    await Promise.all(this.pending);
    this.learnFromTokenCache();
    const clientSecret = this.stack.bff.devIdp?.clientSecret;
    const urls = this.urls.filter((u) => everyUrl || new URL(u).origin === this.bffOrigin).map((u) => ({ where: `the URL ${u}`, text: this.withoutEndSessionHint(u) }));
    const everything = [...this.fromBff, ...this.storage, ...urls, ...spaJavaScript()];
    for (const { where, text } of everything) {
      expect(text, `JWT in ${where}`).not.toMatch(JWT);
      for (const secret of this.issued.refresh) expect(text, `a refresh token in ${where}`).not.toContain(secret);
      for (const secret of this.issued.other) expect(text, `a token in ${where}`).not.toContain(secret);
      if (clientSecret) expect(text, `the BFF's client secret in ${where}`).not.toContain(clientSecret);
    }
    return { refreshTokens: this.issued.refresh.size, scanned: everything.length, unread: [...this.unread] };
  }

  private async record(response: Response) {
    const url = new URL(response.url());
    if (url.origin === this.idpOrigin && url.pathname === '/token' && response.status() === 200) {
      // Another app's token response: remember what it got, to look for it at the BFF.
      const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (typeof body.refresh_token === 'string') this.issued.refresh.add(body.refresh_token);
      for (const name of ['access_token', 'id_token']) if (typeof body[name] === 'string') this.issued.other.add(body[name] as string);
      return;
    }
    if (url.origin !== this.bffOrigin) return;
    const headers = await response.allHeaders();
    if (url.pathname === END_SESSION_PATH && headers.location) headers.location = this.withoutEndSessionHint(headers.location);
    this.fromBff.push({ where: `the headers of ${response.url()}`, text: JSON.stringify(headers) });
    const redirect = response.status() >= 300 && response.status() < 400;
    if (READ_ON_THE_WAY.includes(url.pathname)) return; // read by the route in watch()
    if (redirect || !TEXT_TYPES.test(response.headers()['content-type'] ?? '')) return;
    try {
      this.fromBff.push({ where: `the body of ${response.url()}`, text: await response.text() });
    } catch {
      this.unread.push(response.url());
    }
  }

  /**
   * RP-initiated logout needs the ID token at the IdP: it may travel as `id_token_hint` in the
   * BFF's redirect from /auth/end-session to the IdP's end_session_endpoint, and nowhere else.
   * That one parameter of that one URL is set aside; everything else is scanned.
   */
  private withoutEndSessionHint(raw: string): string {
    const endpoint = this.stack.bff.idp.endSessionEndpoint;
    const url = new URL(raw);
    if (!endpoint || `${url.origin}${url.pathname}` !== endpoint) return raw;
    url.searchParams.delete('id_token_hint');
    return url.toString();
  }

  /** The tokens the BFF held (sealed at rest with the stack's TOKEN_CACHE_KEY). */
  private learnFromTokenCache() {
    const sealer = new TokenSealer(this.stack.bff.services.config.tokenCacheKeys);
    for (const { key, value } of this.memory.tokenWrites) {
      const stored = (JSON.parse(value) as { value: string }).value;
      const homeAccountId = userOfKey(key);
      const serialized = stored.startsWith('{') ? stored : sealer.open(stored, homeAccountId);
      const cache = JSON.parse(serialized) as Record<string, Record<string, { secret?: string }> | undefined>;
      for (const entry of Object.values(cache.RefreshToken ?? {})) if (entry.secret) this.issued.refresh.add(entry.secret);
      for (const section of ['AccessToken', 'IdToken']) {
        for (const entry of Object.values(cache[section] ?? {})) if (entry.secret) this.issued.other.add(entry.secret);
      }
    }
  }
}

/** A body Chromium no longer holds (its frame went away) never resolves: give up after 2 s. */
function withTimeout(work: Promise<unknown>, onTimeout: () => void): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), 2000);
  });
  return Promise.race([work.catch(() => onTimeout()), timeout]).finally(() => clearTimeout(timer));
}

function spaJavaScript(): Seen[] {
  const dir = 'dist/client/assets';
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => ({ where: `the SPA's ${f}`, text: readFileSync(path.join(dir, f), 'utf8') }));
}

/** Runs in the page (a string: no transpiler helpers may leak into it). */
const DUMP_STORAGE = `(async () => {
  const dump = (s) => Object.fromEntries(Array.from({ length: s.length }, (_, i) => [s.key(i), s.getItem(s.key(i))]));
  const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
  const indexedDb = {};
  for (const { name } of await indexedDB.databases()) {
    if (!name) continue;
    const db = await request(indexedDB.open(name));
    for (const store of Array.from(db.objectStoreNames)) {
      indexedDb[name + '/' + store] = await request(db.transaction(store, 'readonly').objectStore(store).getAll());
    }
    db.close();
  }
  return JSON.stringify({ localStorage: dump(localStorage), sessionStorage: dump(sessionStorage), indexedDb, cookie: document.cookie });
})()`;
