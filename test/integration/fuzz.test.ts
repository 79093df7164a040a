import { describe, expect, it } from 'vitest';
import { TestBrowser } from '../support/browser';
import { startInspectableStack } from '../support/stack';

/** A small seeded PRNG (mulberry32): the same seed gives the same requests, so a failure replays. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const REQUESTS = 3000;

const PIECES = [
  '', 'a', '..', '.', '%2e%2e', '%2F', '%5C', '\\\\', '//', '%00', '%ff', '%E0%A4%A', '%', '%%', '?', '#', '&', '=', ';', ',', '"', "'", '<script>',
  'javascript:alert(1)', 'https://evil.example', '//evil.example', '/\\\\evil.example', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'null', 'undefined',
  '[]', '{}', '{"a":1}', '🙂', 'é', '\u202e', 'A'.repeat(300), '-1', '0', '1e309', 'NaN', 'state', 'code', 'sid', 'iss', 'logout_token',
];

describe('fuzz: malformed requests at /auth/callback, the logout routes and /api/*', () => {
  it(`${REQUESTS} malformed requests: zero 5xx, zero stored changes (seed ${SEED})`, async () => {
    const env = await startInspectableStack();
    const { stack, memory } = env;
    try {
      const signedIn = stack.browser();
      await stack.signIn(signedIn, 'alice');
      await signedIn.api(`${stack.url}/api/me`);
      const before = new Map(memory);
      const anonymous = new TestBrowser();
      const rand = prng(SEED);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
      const junk = (parts = 1 + Math.floor(rand() * 4)) => Array.from({ length: parts }, () => pick(PIECES)).join('');
      const enc = (v: string) => (rand() < 0.5 ? encodeURIComponent(v) : v.replace(/[^\x21-\x7e]/gu, (c) => encodeURIComponent(c)).replace(/#/g, '%23'));
      const query = () => Array.from({ length: Math.floor(rand() * 4) }, () => `${enc(junk(1))}=${enc(junk())}`).join('&');

      const make = (): { browser: TestBrowser; method: string; rawPath: string; headers: Record<string, string>; body?: string } => {
        const browser = rand() < 0.5 ? signedIn : anonymous;
        const csrf: Record<string, string> = rand() < 0.7 ? { 'x-csrf': pick(['1', '0', '', 'true', '11']) } : {};
        switch (Math.floor(rand() * 4)) {
          case 0:
            return { browser, method: pick(['GET', 'GET', 'POST', 'HEAD']), rawPath: `/auth/callback?${query()}`, headers: {} };
          case 1:
            return { browser, method: pick(['GET', 'GET', 'POST', 'PUT']), rawPath: `/auth/frontchannel-logout?${query()}`, headers: {} };
          case 2: {
            const type = pick(['application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data', '']);
            const body = pick([`logout_token=${enc(junk())}`, `logout_token=${junk()}.${junk()}.${junk()}`, junk(), JSON.stringify({ logout_token: junk() }), '']);
            return { browser, method: pick(['POST', 'POST', 'GET', 'DELETE']), rawPath: '/auth/backchannel-logout', headers: type ? { 'content-type': type } : {}, body };
          }
          default: {
            const path = `/api/${Array.from({ length: 1 + Math.floor(rand() * 3) }, () => enc(junk())).join('/')}`;
            return { browser, method: pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']), rawPath: `${path}${rand() < 0.3 ? `?${query()}` : ''}`, headers: rand() < 0.2 ? { ...csrf, 'sec-fetch-site': 'cross-site' } : csrf, body: rand() < 0.3 ? junk() : undefined };
          }
        }
      };

      const statuses = new Map<number, number>();
      const fivexx: string[] = [];
      let refusedByClient = 0;
      for (let sent = 0; sent < REQUESTS; sent += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, REQUESTS - sent) }, async () => {
            const r = make();
            try {
              const res = await r.browser.request(stack.url, { method: r.method, rawPath: r.rawPath, headers: r.headers, body: r.body });
              statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
              if (res.status >= 500) fivexx.push(`${r.method} ${r.rawPath} -> ${res.status} ${res.body.slice(0, 200)}`);
            } catch {
              refusedByClient++; // e.g. Node's client refuses a path with a raw control character
            }
          }),
        );
      }
      if (process.env.FUZZ_REPORT) console.log(Object.fromEntries(statuses), { refusedByClient });
      expect(fivexx).toEqual([]);
      expect(refusedByClient).toBeLessThan(REQUESTS / 10);
      expect(new Map(memory)).toEqual(before);
      // alice is still signed in: nothing malformed signed her out.
      expect((await signedIn.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
      expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    } finally {
      await stack.close();
    }
  }, 120_000);
});
