import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TestBrowser } from '../support/browser';
import { bearerUser, rawRequest, RawUpstream } from '../support/raw-upstream';
import { signInAt, startInspectableStack, startStack } from '../support/stack';
import { prng } from '../support/prng';

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);

/**
 * The store without the marks a front- or back-channel call for an unrecorded sid leaves for two
 * minutes (`logout:ended-sid:`, sign-out.ts): the one thing such a call may store.
 */
const withoutEndedSids = (memory: Map<string, unknown>) => new Map([...memory].filter(([key]) => !key.startsWith('logout:ended-sid:')));
const REQUESTS = 3000;

const PIECES = [
  '', 'a', '..', '.', '%2e%2e', '%2F', '%5C', '\\\\', '//', '%00', '%ff', '%E0%A4%A', '%', '%%', '?', '#', '&', '=', ';', ',', '"', "'", '<script>',
  'javascript:alert(1)', 'https://evil.example', '//evil.example', '/\\\\evil.example', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'null', 'undefined',
  '[]', '{}', '{"a":1}', '🙂', 'é', '\u202e', 'A'.repeat(300), '-1', '0', '1e309', 'NaN', 'state', 'code', 'sid', 'iss', 'logout_token',
];

describe('fuzz: malformed requests at /auth/callback, the logout routes and /api/*', () => {
  it(`${REQUESTS} malformed requests: zero 5xx, zero stored changes but two-minute ended-sid marks (seed ${SEED})`, async () => {
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
            return { browser, method: pick(['GET', 'GET', 'POST', 'HEAD', 'PROPFIND']), rawPath: `/auth/callback?${query()}`, headers: {} };
          case 1:
            return { browser, method: pick(['GET', 'GET', 'POST', 'PUT']), rawPath: `/auth/frontchannel-logout?${query()}`, headers: {} };
          case 2: {
            const type = pick(['application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data', '']);
            const body = pick([`logout_token=${enc(junk())}`, `logout_token=${junk()}.${junk()}.${junk()}`, junk(), JSON.stringify({ logout_token: junk() }), '']);
            return { browser, method: pick(['POST', 'POST', 'GET', 'DELETE']), rawPath: '/auth/backchannel-logout', headers: type ? { 'content-type': type } : {}, body };
          }
          default: {
            const path = `/api/${Array.from({ length: 1 + Math.floor(rand() * 3) }, () => enc(junk())).join('/')}`;
            return { browser, method: pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'M-SEARCH', 'LOCK']), rawPath: `${path}${rand() < 0.3 ? `?${query()}` : ''}`, headers: rand() < 0.2 ? { ...csrf, 'sec-fetch-site': 'cross-site' } : csrf, body: rand() < 0.3 ? junk() : undefined };
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
      expect(withoutEndedSids(memory)).toEqual(withoutEndedSids(before));
      // alice is still signed in: nothing malformed signed her out.
      expect((await signedIn.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
      expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    } finally {
      await stack.close();
    }
  }, 120_000);
});

/** Every name a plain object answers for without owning it. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

describe('fuzz: properties over the kinds of fault a review found (fast-check, seeded)', () => {
  const piece = fc.oneof(fc.constantFrom(...PROTOTYPE_NAMES), fc.constantFrom(...PIECES), fc.string({ maxLength: 12 }), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/));
  const input = fc.oneof(piece, fc.array(piece, { maxLength: 4 }).map((parts) => parts.join('')));
  const options = { seed: SEED, numRuns: 300 };

  it('no state a client can send finds a sign-in it did not start, and none changes stored state', async () => {
    const env = await startInspectableStack();
    const { stack, memory } = env;
    try {
      const browser = stack.browser();
      await browser.get(`${stack.url}/auth/login`); // a real sign-in pending in this browser
      const before = new Map(memory);
      await fc.assert(
        fc.asyncProperty(input, input, async (state, code) => {
          const res = await browser.get(`${stack.url}/auth/callback?state=${encodeURIComponent(state)}&code=${encodeURIComponent(code)}`);
          expect(res.status).toBe(400);
          expect(res.json().error).toBe(state ? 'login_state_mismatch' : 'login_state_missing');
          expect((res.headers['set-cookie'] ?? []).some((c) => /^bff\.sid=[^;]/.test(c))).toBe(false);
        }),
        options,
      );
      expect(new Map(memory)).toEqual(before);
    } finally {
      await stack.close();
    }
  }, 120_000);

  it('no sid or iss a client can send signs anyone out, and none is a 5xx', async () => {
    const env = await startInspectableStack();
    const { stack, memory } = env;
    try {
      const alice = stack.browser();
      await stack.signIn(alice, 'alice');
      const before = new Map(memory);
      const iss = fc.oneof(fc.constant(undefined), fc.constant(stack.bff.idp.issuer), input);
      await fc.assert(
        fc.asyncProperty(input, iss, async (sid, issuer) => {
          const query = new URLSearchParams({ sid, ...(issuer === undefined ? {} : { iss: issuer }) });
          const res = await new TestBrowser().get(`${stack.url}/auth/frontchannel-logout?${query}`);
          expect(res.status).toBeLessThan(500);
          if (res.status === 200) expect(res.body).toContain('Nothing to sign out.');
        }),
        options,
      );
      expect(withoutEndedSids(memory)).toEqual(withoutEndedSids(before));
      expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
    } finally {
      await stack.close();
    }
  }, 120_000);

  it('whatever returnTo a sign-in starts with, it comes back to a path on the BFF origin', async () => {
    const env = await startInspectableStack();
    const { stack } = env;
    try {
      const browser = stack.browser();
      await stack.signIn(browser, 'alice'); // later sign-ins go through the IdP session (SSO)
      const dot = fc.constantFrom('.', '..', '%2e', '%2E', '.%2e', '%2e%2e', '%252e', '%252e%252e', '\uff0e', '%EF%BC%8E');
      const sep = fc.constantFrom('/', '//', '\\', '/\\', '%2f', '%5c', '%252f', '\t', '\n', '');
      const host = fc.constantFrom('evil.example', '@evil.example', 'evil.example:443', '');
      const returnTo = fc.oneof(
        input,
        fc.tuple(sep, dot, sep, sep, host).map((parts) => `/${parts.join('')}`),
        fc.tuple(fc.array(fc.tuple(dot, sep), { maxLength: 3 }), host).map(([segments, h]) => `/${segments.flat().join('')}/${h}`),
      );
      await fc.assert(
        fc.asyncProperty(returnTo, async (target) => {
          const done = await signInAt(browser, stack.url, 'alice', target);
          expect(done.status).toBe(302);
          const location = done.headers.location!;
          expect(new URL(location).origin).toBe(stack.url);
          expect(location.slice(stack.url.length)).toMatch(/^\/(?![/\\])/);
        }),
        { seed: SEED, numRuns: 80 },
      );
    } finally {
      await stack.close();
    }
  }, 120_000);

  it('no path form or framing a browser can send reaches the API outside its base or badly framed', async () => {
    const upstream = await RawUpstream.start();
    const stack = await startStack({ API_BASE_URL: `${upstream.url}/base`, API_TIMEOUT_MS: '2000' });
    try {
      const alice = stack.browser();
      await stack.signIn(alice, 'alice');
      const cookie = await alice.jar.getCookieString(stack.url);
      const dot = fc.constantFrom('.', '..', '%2e', '%2E%2e', '.%2e', '%252e%252e', '%25252e', '\uff0e\uff0e', '%EF%BC%8E%EF%BC%8E', '%c0%ae%c0%ae', '\u2024\u2024', '...');
      const tail = fc.constantFrom('', ';', ';a=b', ';%2f', '%3b', '%20', '%09');
      const sep = fc.constantFrom('%2f', '%5c', '%252f', '%255c', '\\', '%00', '%0d%0a');
      const word = fc.constantFrom('me', 'todos', 'caf%C3%A9', 'a;b=c', 'x', '42');
      const segment = fc.oneof(word, fc.tuple(dot, tail).map(([d, t]) => d + t), fc.tuple(word, sep, word).map((parts) => parts.join('')));
      const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((segments) => `/api/${segments.join('/')}`);
      const framing = fc.constantFrom(
        { lines: [] as string[], content: '' },
        { lines: ['Content-Length: 5'], content: 'hello' },
        { lines: ['Content-Length: 0'], content: '' },
        { lines: ['Content-Length: 005'], content: 'hello' },
        { lines: ['Transfer-Encoding: chunked'], content: '5\r\nhello\r\n0\r\n\r\n' },
        { lines: ['Transfer-Encoding: chunked', 'Content-Length: 40'], content: '5\r\nhello\r\n0\r\n\r\n' },
        { lines: ['Content-Length: 5', 'Content-Length: 5'], content: 'hello' },
      );
      const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE');
      await fc.assert(
        fc.asyncProperty(path, method, framing, async (target, verb, frame) => {
          const before = upstream.mark();
          const head = [`${verb} ${target} HTTP/1.1`, `Host: ${new URL(stack.url).host}`, 'X-CSRF: 1', `Cookie: ${cookie}`, 'Connection: close', ...frame.lines];
          const res = await rawRequest(stack.url, `${head.join('\r\n')}\r\n\r\n${frame.content}`, { timeoutMs: 5000 });
          await new Promise((r) => setTimeout(r, 5));
          const { requests } = upstream.since(before);
          expect(res.status).not.toBe(500);
          if (res.status >= 400 && res.status < 500) {
            expect(requests).toEqual([]);
            return;
          }
          // It went through: exactly one request, under the base, with no dot segment however it
          // is read, framed by the proxy, carrying exactly the content sent, with alice's token.
          expect(requests).toHaveLength(1);
          const [sent] = requests as [NonNullable<(typeof requests)[0]>];
          expect(sent.target.startsWith('/base/')).toBe(true);
          let readings = [sent.target.split('?')[0]!];
          for (let i = 0; i < 4; i++) readings = readings.flatMap((r) => { try { return [r, decodeURIComponent(r).normalize('NFKC')]; } catch { return [r]; } });
          for (const reading of readings) {
            expect(reading.split(/[/\\]/).map((seg) => seg.split(';')[0]!.trim())).not.toContain('..');
          }
          expect(sent.body?.toString('latin1') ?? '').toBe(['GET', 'HEAD', 'DELETE'].includes(verb) ? '' : frame.content.includes('hello') ? 'hello' : '');
          expect(upstream.connections[sent.connection - 1]!.malformed).toBeUndefined();
          expect(bearerUser(sent)).toBe('alice');
        }),
        { seed: SEED, numRuns: 300 },
      );
    } finally {
      await stack.close();
      await upstream.close();
    }
  }, 180_000);
});
