import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestBrowser } from '../support/browser';
import { signInAt, startInspectableStack, startProductionStack, startStack, TEST_SESSION_KEY, type Stack } from '../support/stack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('session cookies in production', () => {
  it('the session cookie is __Host-, Secure, HttpOnly, Path=/, SameSite=Lax, with no Domain; HSTS is sent', async () => {
    const prod = await startProductionStack();
    try {
      const browser = new TestBrowser(prod.ca);
      const login = await browser.get(`${prod.url}/auth/login`);
      expect(login.status).toBe(302);
      expect(login.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      // The redirect URI the IdP gets is built from PUBLIC_URL (https), not from the connection.
      expect(new URL(login.headers.location!).searchParams.get('redirect_uri')).toBe(`${prod.publicUrl}/auth/callback`);
      // The pending sign-in's cookie: __Secure-, Secure, HttpOnly, only under /auth/, no longer than the login timeout.
      const pending = (login.headers['set-cookie'] ?? []).filter((c) => c.startsWith('__Secure-bff.login.'));
      expect(pending).toHaveLength(1);
      const pendingAttrs = pending[0]!.split(';').map((a) => a.trim().toLowerCase());
      expect(pendingAttrs).toEqual(expect.arrayContaining(['secure', 'httponly', 'path=/auth/', 'samesite=lax']));
      expect(pendingAttrs.some((a) => a.startsWith('domain='))).toBe(false);
      const expires = Date.parse(/expires=([^;]+)/i.exec(pending[0]!)?.[1] ?? '');
      expect(expires - Date.now()).toBeLessThanOrEqual(10 * 60_000 + 1000); // LOGIN_TIMEOUT_MINUTES, 10 by default

      const callback = await signInAt(browser, prod.url, 'alice', '/', login, prod.publicUrl);
      const cookies = (callback.headers['set-cookie'] ?? []).filter((c) => c.startsWith('__Host-bff.sid'));
      expect(cookies.length).toBe(2); // the id and its signature
      for (const cookie of cookies) {
        const attrs = cookie.split(';').map((a) => a.trim().toLowerCase());
        expect(attrs).toContain('secure');
        expect(attrs).toContain('httponly');
        expect(attrs).toContain('path=/');
        expect(attrs).toContain('samesite=lax');
        expect(attrs.some((a) => a.startsWith('domain='))).toBe(false);
      }
      expect(callback.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    } finally {
      await prod.close();
    }
  });
});

describe('sessions that cannot be trusted are no sessions', () => {
  let env: Awaited<ReturnType<typeof startInspectableStack>>;
  beforeAll(async () => {
    env = await startInspectableStack();
  });
  afterAll(() => env?.stack.close());

  it('a tampered session cookie is treated as no session', async () => {
    const { stack } = env;
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    const id = (await browser.cookie(stack.url, 'bff.sid'))!;
    const forged = `${id.slice(0, -2)}${id.endsWith('AA') ? 'BB' : 'AA'}`;
    await browser.jar.setCookie(`bff.sid=${forged}`, stack.url);
    expect((await browser.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    expect((await browser.api(`${stack.url}/api/me`)).status).toBe(401);
  });

  it('an unknown session id, even correctly signed, is treated as no session and stores nothing', async () => {
    const { stack } = env;
    const id = randomBytes(32).toString('base64url');
    const sig = createHmac('sha1', TEST_SESSION_KEY).update(`bff.sid=${id}`).digest('base64url');
    const browser = new TestBrowser();
    await browser.jar.setCookie(`bff.sid=${id}`, stack.url);
    await browser.jar.setCookie(`bff.sid.sig=${sig}`, stack.url);
    const before = env.keys().length;
    expect((await browser.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    expect((await browser.api(`${stack.url}/api/me`)).status).toBe(401);
    expect(env.keys().length).toBe(before);
    expect(env.keys(`sessions:${id}`)).toEqual([]);
  });

  it('session fixation: an id planted before sign-in is never the signed-in one', async () => {
    const { stack } = env;
    // The attacker plants a session of their own (no pre-login session exists to plant).
    const attacker = stack.browser();
    await stack.signIn(attacker, 'bob');
    const planted = (await attacker.cookie(stack.url, 'bff.sid'))!;
    const plantedSig = (await attacker.cookie(stack.url, 'bff.sid.sig'))!;
    const victim = stack.browser();
    await victim.jar.setCookie(`bff.sid=${planted}`, stack.url);
    await victim.jar.setCookie(`bff.sid.sig=${plantedSig}`, stack.url);
    await stack.signIn(victim, 'alice');
    expect(await victim.cookie(stack.url, 'bff.sid')).not.toBe(planted);
    expect((await victim.api(`${stack.url}/auth/session`)).json().user.username).toBe('alice');
    // The planted session ended when the victim signed in.
    expect((await attacker.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    expect(env.keys(`sessions:${planted}`)).toEqual([]);
  });
});

describe('session lifetimes are enforced on the server', () => {
  it('the idle timeout ends a session that was not used, and removes it from the store', async () => {
    const env = await startInspectableStack({ SESSION_IDLE_MINUTES: '0.005' }); // 300 ms
    try {
      const browser = env.stack.browser();
      await env.stack.signIn(browser, 'alice');
      expect((await browser.api(`${env.stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
      await sleep(450);
      expect((await browser.api(`${env.stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
      expect(env.keys('sessions:')).toEqual([]);
    } finally {
      await env.stack.close();
    }
  });

  it('the absolute timeout ends a session however busy it is', async () => {
    const env = await startInspectableStack({ SESSION_ABSOLUTE_HOURS: '0.0002' }); // 720 ms
    try {
      const browser = env.stack.browser();
      await env.stack.signIn(browser, 'alice');
      let last = true;
      for (let i = 0; i < 12 && last; i++) {
        await sleep(100);
        last = (await browser.api(`${env.stack.url}/auth/session`)).json().isAuthenticated;
      }
      expect(last).toBe(false);
    } finally {
      await env.stack.close();
    }
  });
});

describe('the boundary', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('grants no CORS: neither a preflight nor a cross-origin call gets Access-Control-Allow-Origin', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    const preflight = await browser.request(`${stack.url}/api/me`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-csrf' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-headers']).toBeUndefined();
    const call = await browser.api(`${stack.url}/api/me`, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    expect(call.status).toBe(403);
    expect(call.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('builds URLs from PUBLIC_URL, never from the Host or Referer headers', async () => {
    const browser = stack.browser();
    const evil = { host: 'evil.example', 'x-forwarded-host': 'evil.example', referer: 'https://evil.example/' };
    const login = await browser.get(`${stack.url}/auth/login?returnTo=/inbox`, { headers: evil });
    expect(new URL(login.headers.location!).searchParams.get('redirect_uri')).toBe(`${stack.url}/auth/callback`);
    const callback = await stack.signIn(browser, 'alice');
    expect(callback.headers.location!.startsWith(`${stack.url}/`)).toBe(true);
    const logout = await browser.api(`${stack.url}/auth/logout`, { method: 'POST', headers: evil });
    expect(logout.json().endSessionUrl.startsWith(`${stack.url}/auth/end-session?`)).toBe(true);
    const end = new URL((await browser.get(logout.json().endSessionUrl, { headers: evil })).headers.location!);
    expect(end.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.url}/`);
    expect(logout.body).not.toContain('evil.example');
  });

  it('sends a strict CSP with no inline script, frame-ancestors none everywhere but the front-channel route, nosniff and no referrer', async () => {
    const browser = new TestBrowser();
    for (const path of ['/', '/auth/session', '/api/me', '/auth/callback']) {
      const res = await browser.get(`${stack.url}${path}`);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
    }
    const frontchannel = await browser.get(`${stack.url}/auth/frontchannel-logout?sid=x`);
    expect(frontchannel.headers['content-security-policy']).toContain(`frame-ancestors ${new URL(stack.bff.idp.issuer).origin}`);
    expect(frontchannel.headers['content-security-policy']).not.toContain("frame-ancestors 'none'");
  });

  it('marks every authenticated response Cache-Control: no-store', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    for (const path of ['/auth/session', '/api/me', '/api/todos']) {
      expect((await browser.api(`${stack.url}${path}`)).headers['cache-control']).toBe('no-store');
    }
    expect((await browser.api(`${stack.url}/auth/logout`, { method: 'POST' })).headers['cache-control']).toBe('no-store');
  });

  it('refuses an over-long URL (414) and an over-large API body (413), with JSON problems', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    const long = await browser.api(`${stack.url}/api/me?${'q'.repeat(9000)}`);
    expect(long.status).toBe(414);
    expect(long.json().error).toBe('bad_request');
    const big = await browser.api(`${stack.url}/api/todos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(1_100_000) });
    expect(big.status).toBe(413);
    expect(big.json().error).toBe('payload_too_large');
  });
});
