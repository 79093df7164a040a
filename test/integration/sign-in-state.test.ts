import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser, type Response } from '../support/browser';
import { startFaultyStack, type faultyStores } from '../support/faulty-stores';
import { signInAt, startStack, type Stack } from '../support/stack';

/** Every name a plain object answers for without owning it: Object.prototype's, __proto__ included. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

const freshState = () => randomBytes(32).toString('base64url');
const loginCookies = async (browser: TestBrowser, url: string) => (await browser.jar.getCookies(`${url}/auth/`)).filter((c) => c.key.startsWith('bff.login.'));
const stateOf = (login: Response) => new URL(login.headers.location!).searchParams.get('state')!;
const sessionCookieSet = (res: Response) => (res.headers['set-cookie'] ?? []).some((c) => /^bff\.sid=[^;]+/.test(c) && !/^bff\.sid=;/.test(c));

describe('sign-in state', () => {
  let stack: Stack;
  let memory: Map<string, unknown>;
  let faults: ReturnType<typeof faultyStores>;

  beforeAll(async () => {
    ({ stack, memory, faults } = await startFaultyStack({ LOGIN_TIMEOUT_MINUTES: '0.02' }));
  });
  afterAll(() => stack?.close());

  it('every Object.prototype property name as state gets exactly the answer an unknown state gets', async () => {
    const browser = stack.browser();
    expect((await browser.get(`${stack.url}/auth/login`)).status).toBe(302);
    const before = new Map(memory);
    const answer = async (state: string) => {
      const res = await browser.get(`${stack.url}/auth/callback?state=${encodeURIComponent(state)}&code=attacker-code`);
      return { status: res.status, body: res.json(), session: sessionCookieSet(res) };
    };
    const unknown = await answer(freshState());
    expect(unknown).toEqual({ status: 400, body: { error: 'login_state_mismatch', message: expect.any(String) }, session: false });
    for (const name of PROTOTYPE_NAMES) {
      expect({ name, ...(await answer(name)) }).toEqual({ name, ...unknown });
      // Even with a cookie of that name planted beside the real pending sign-in.
      await browser.jar.setCookie(`bff.login.${name}=x; Path=/auth/`, stack.url, { ignoreError: true });
      expect({ name, ...(await answer(name)) }).toEqual({ name, ...unknown });
    }
    expect(new Map(memory)).toEqual(before);
  });

  it('every Object.prototype property name as sid at front-channel logout is a 200 that changes nothing but remembering that sid as ended', async () => {
    const alice = stack.browser();
    await stack.signIn(alice, 'alice');
    const before = new Map(memory);
    for (const name of PROTOTYPE_NAMES) {
      const res = await new TestBrowser().get(`${stack.url}/auth/frontchannel-logout?sid=${encodeURIComponent(name)}`);
      expect({ name, status: res.status, body: res.body }).toEqual({ name, status: 200, body: expect.stringContaining('Nothing to sign out.') });
    }
    // Each call remembers its sid as ended, for a sign-in still under way with it (sign-out.ts).
    const after = new Map(memory);
    const ended = PROTOTYPE_NAMES.map((name) => `logout:ended-sid:${stack.bff.idp.issuer} ${name}`);
    expect([...after.keys()].filter((k) => !before.has(k)).sort()).toEqual([...new Set(ended)].sort());
    for (const key of ended) after.delete(key);
    expect(after).toEqual(before);
    expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
  });

  it('an anonymous /auth/login stores nothing on the server', async () => {
    const before = new Map(memory);
    const anonymous = new TestBrowser();
    for (let i = 0; i < 100; i++) expect((await anonymous.get(`${stack.url}/auth/login?returnTo=/todos`)).status).toBe(302);
    await Promise.all(Array.from({ length: 100 }, () => new TestBrowser().get(`${stack.url}/auth/login`)));
    expect(new Map(memory)).toEqual(before);
  });

  it('keeps at most three sign-ins pending per browser: the newest win', async () => {
    const browser = new TestBrowser();
    const states: string[] = [];
    for (let i = 0; i < 5; i++) states.push(stateOf(await browser.get(`${stack.url}/auth/login`)));
    const names = (await loginCookies(browser, stack.url)).map((c) => c.key).sort();
    expect(names).toEqual(states.slice(-3).map((s) => `bff.login.${s}`).sort());
  });

  it('two sign-ins started at once in one browser (two tabs) both complete', async () => {
    const browser = stack.browser();
    const [tabA, tabB] = await Promise.all([browser.get(`${stack.url}/auth/login?returnTo=/a`), browser.get(`${stack.url}/auth/login?returnTo=/b`)]);
    const doneA = await signInAt(browser, stack.url, 'alice', '/a', tabA);
    const doneB = await signInAt(browser, stack.url, 'alice', '/b', tabB);
    expect([doneA.status, doneA.headers.location]).toEqual([302, `${stack.url}/a`]);
    expect([doneB.status, doneB.headers.location]).toEqual([302, `${stack.url}/b`]);
    expect((await browser.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
    expect(await loginCookies(browser, stack.url)).toEqual([]);
  });

  it('a pending sign-in lives only as long as the login timeout', async () => {
    const browser = stack.browser();
    const login = await browser.get(`${stack.url}/auth/login`);
    const [cookie] = await loginCookies(browser, stack.url);
    expect(cookie!.expiryTime()).toBeLessThanOrEqual(Date.now() + 0.02 * 60_000 + 1000);
    // A browser that keeps the cookie anyway gets login_expired; a browser that dropped it, a mismatch.
    const kept = new TestBrowser(stack.bff.devIdp?.ca);
    await kept.jar.setCookie(`${cookie!.key}=${cookie!.value}; Path=/auth/`, stack.url);
    await new Promise((r) => setTimeout(r, 0.02 * 60_000 + 200));
    const callback = `${stack.url}/auth/callback?state=${stateOf(login)}&code=c`;
    expect((await kept.get(callback)).json().error).toBe('login_expired');
    expect(await loginCookies(browser, stack.url)).toEqual([]);
    expect((await browser.get(callback)).json().error).toBe('login_state_mismatch');
  });

  it('a callback that fails at any store call after the code redemption leaves no usable session', async () => {
    let failures = 0;
    for (let n = 1; n < 30; n++) {
      const browser = stack.browser();
      const login = await browser.get(`${stack.url}/auth/login`);
      let seen = 0;
      const stop = faults.inject(() => (++seen === n ? 'fail' : undefined));
      let callback: Response;
      try {
        callback = await signInAt(browser, stack.url, 'alice', '/', login);
      } finally {
        stop();
      }
      if (callback.status === 302) break; // n is past the callback's last store call
      failures++;
      expect({ n, status: callback.status, error: callback.json().error }).toEqual({ n, status: 503, error: 'store_unavailable' });
      expect(sessionCookieSet(callback)).toBe(false);
      expect((await browser.api(`${stack.url}/auth/session`)).json()).toMatchObject({ isAuthenticated: false });
      expect((await browser.api(`${stack.url}/api/me`)).status).toBe(401);
    }
    expect(failures).toBeGreaterThanOrEqual(5);
  });
});

describe('pending sign-ins with large claims requests', () => {
  it('keep the Cookie header of /auth/* under 8 KB: the newest win within a byte budget', async () => {
    const stack = await startStack();
    try {
      const browser = new TestBrowser();
      const claims = Buffer.from(JSON.stringify({ id_token: { acrs: { essential: true, values: ['c1'.repeat(900)] } } })).toString('base64url');
      const states: string[] = [];
      for (let i = 0; i < 4; i++) {
        const login = await browser.get(`${stack.url}/auth/login?claims=${claims}&returnTo=${encodeURIComponent(`/${'r'.repeat(400)}`)}`);
        expect(login.status).toBe(302);
        states.push(stateOf(login));
      }
      const header = await browser.jar.getCookieString(`${stack.url}/auth/callback`);
      expect(header.length).toBeLessThan(8000);
      // The newest is always kept.
      expect((await loginCookies(browser, stack.url)).map((c) => c.key)).toContain(`bff.login.${states.at(-1)}`);
    } finally {
      await stack.close();
    }
  });
});
