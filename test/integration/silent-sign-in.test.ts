import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestBrowser, Response } from '../support/browser';
import { everythingReceived, JWT_PATTERN, loadIframes, startInspectableStack, startStack, withExpiredAccessTokens, type Stack } from '../support/stack';

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;

/** What one silent sign-in did: every URL it went through, and where the BFF sent the browser in the end. */
interface SilentRun {
  urls: string[];
  /** Every response on the way: none may be a login form, an error page or a problem. */
  responses: Response[];
  /** The last response, from the BFF (its callback, or /auth/login when it did not go to the IdP). */
  last: Response;
  wentToIdp: boolean;
}

/** GET /auth/login?prompt=none as the SPA navigates there, following redirects until the BFF sends the browser to a page. */
async function silentSignIn(stack: Stack, browser: TestBrowser, returnTo: string): Promise<SilentRun> {
  const urls: string[] = [];
  const responses: Response[] = [];
  let url = `${stack.url}/auth/login?prompt=none&returnTo=${encodeURIComponent(returnTo)}`;
  for (let hop = 0; hop < 10; hop++) {
    urls.push(url);
    const res = await browser.get(url);
    responses.push(res);
    const location = res.headers.location;
    if (res.status < 300 || res.status >= 400 || !location) return { urls, responses, last: res, wentToIdp: urls.some((u) => u.startsWith(stack.bff.idp.issuer)) };
    const next = new URL(location, url).toString();
    // Back at a page of the SPA (not a BFF route): the round trip is over.
    if (next.startsWith(stack.url) && !new URL(next).pathname.startsWith('/auth/')) {
      return { urls, responses, last: res, wentToIdp: urls.some((u) => u.startsWith(stack.bff.idp.issuer)) };
    }
    url = next;
  }
  throw new Error(`silent sign-in did not come back: ${urls.join(' -> ')}`);
}

/** Removes the BFF's cookies (bff.*) from the jar, keeping the IdP's: a browser whose BFF session is gone but whose IdP session lives. */
async function clearBffCookies(browser: TestBrowser, url: string) {
  for (const cookie of await browser.jar.getCookies(url, { allPaths: true })) {
    if (cookie.key.startsWith('bff.')) await browser.jar.store.removeCookie(cookie.domain!, cookie.path!, cookie.key);
  }
}

const session = async (stack: Stack, browser: TestBrowser) => (await browser.api(`${stack.url}/auth/session`)).json();

function expectNoFormErrorOrProblem(run: SilentRun) {
  for (const res of run.responses) {
    expect(res.body).not.toMatch(/name="password"/);
    expect(res.headers['content-type'] ?? '').not.toMatch(/json/);
    expect(res.status, `${res.url} answered ${res.status}`).toBeGreaterThanOrEqual(300);
    expect(res.status).toBeLessThan(400);
  }
}

describe('silent sign-in (prompt=none) against the real dev IdP', () => {
  let env: Inspectable;
  let stack: Stack;
  beforeAll(async () => {
    env = await startInspectableStack();
    stack = env.stack;
  });
  afterAll(() => stack?.close());

  it('a browser with no BFF session is told it may try, once', async () => {
    const browser = stack.browser();
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false, silentSignIn: true });
  });

  it('with an IdP session, /auth/login?prompt=none ends signed in with no form shown, with a refresh token that works, and no token reaches the browser', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    await clearBffCookies(browser, stack.url);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false, silentSignIn: true });

    const run = await silentSignIn(stack, browser, '/todos?filter=open');
    expect(run.wentToIdp).toBe(true);
    expectNoFormErrorOrProblem(run);
    expect(run.last.url.startsWith(`${stack.url}/auth/callback?`)).toBe(true);
    expect(run.last.headers.location).toBe(`${stack.url}/todos?filter=open`);
    expect(await session(stack, browser)).toMatchObject({ isAuthenticated: true, user: { username: 'alice' } });
    const me = await browser.api(`${stack.url}/api/me`);
    expect(me.status).toBe(200);
    // The dev IdP grants offline access to prompt=none when the user consented to it before (OIDC Core §11).
    const cache = env.tokenCacheOf(me.json().sub as string)!;
    expect(Object.keys(cache.RefreshToken)).toHaveLength(1);
    // ...and it works: with the access token expired, the next API call refreshes it.
    env.setTokenCache(me.json().sub as string, withExpiredAccessTokens(cache));
    expect((await browser.api(`${stack.url}/api/me`)).status).toBe(200);
    expect(everythingReceived(browser)).not.toMatch(JWT_PATTERN);
    // Marked signed-in: once this session's cookie expires, the browser does not try again.
    expect((await browser.jar.getCookies(stack.url)).find((c) => c.key === 'bff.silent')?.value).toBe('signed-in');
  });

  it('without an IdP session, the callback lands on the returnTo route signed out, with no error or problem, and no second attempt is suggested', async () => {
    const browser = stack.browser();
    const run = await silentSignIn(stack, browser, '/session');
    expect(run.wentToIdp).toBe(true);
    expectNoFormErrorOrProblem(run);
    const callback = run.urls.find((u) => u.startsWith(`${stack.url}/auth/callback?`))!;
    expect(new URL(callback).searchParams.get('error')).toBe('login_required');
    expect(run.last.headers.location).toBe(`${stack.url}/session`);
    expect(run.last.body).not.toMatch(/error/i);

    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    // Asked again anyway (another tab, a stale SPA): straight back, the IdP not involved.
    const again = await silentSignIn(stack, browser, '/session');
    expect(again.wentToIdp).toBe(false);
    expect(again.urls).toHaveLength(1);
    expect(again.last.headers.location).toBe(`${stack.url}/session`);
    // A sign-in with a click still works, and ends the marks.
    await stack.signIn(browser, 'alice');
    expect(await session(stack, browser)).toMatchObject({ isAuthenticated: true });
  });

  it('after a global sign-out here no silent attempt is suggested or made, though the IdP session lives on', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    const logout = await browser.api(`${stack.url}/auth/logout`, { method: 'POST' });
    expect(logout.status).toBe(200);
    // The end-session URL is not followed: the IdP still has alice's session.
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    const run = await silentSignIn(stack, browser, '/');
    expect(run.wentToIdp).toBe(false);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    // Still so once the session cookie is long gone.
    expect((await browser.jar.getCookies(stack.url)).map((c) => c.key)).not.toContain('bff.sid');
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
  });

  it('once the session cookie expires in the browser (the absolute lifetime), no silent attempt is suggested or made, though the IdP session lives on', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    // The browser drops bff.sid at the session's absolute end, as its Max-Age says; the rest stays.
    const sid = (await browser.jar.getCookies(stack.url, { allPaths: true })).find((c) => c.key === 'bff.sid')!;
    await browser.jar.store.removeCookie(sid.domain!, sid.path!, sid.key);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    const run = await silentSignIn(stack, browser, '/');
    expect(run.wentToIdp).toBe(false);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
  });

  it('a signed-in browser that lacks the signed-in mark (a session from before it existed) gets it from /auth/session, and is not signed in silently after its cookie expires', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    const cookie = (key: string) => browser.jar.getCookies(stack.url, { allPaths: true }).then((all) => all.find((c) => c.key === key));
    const mark = (await cookie('bff.silent'))!;
    await browser.jar.store.removeCookie(mark.domain!, mark.path!, mark.key);
    expect((await session(stack, browser)).isAuthenticated).toBe(true);
    expect((await cookie('bff.silent'))?.value).toBe('signed-in');
    const sid = (await cookie('bff.sid'))!;
    await browser.jar.store.removeCookie(sid.domain!, sid.path!, sid.key);
    expect((await silentSignIn(stack, browser, '/')).wentToIdp).toBe(false);
  });

  it('after a sign-out, /AUTH/login?prompt=none (any case of the path) goes straight back too', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    expect((await browser.api(`${stack.url}/auth/logout`, { method: 'POST' })).status).toBe(200);
    const res = await browser.get(`${stack.url}/AUTH/login?prompt=none&returnTo=%2F`);
    expect(res.status).toBe(302);
    expect(res.headers.location!.startsWith(stack.bff.idp.issuer)).toBe(false);
  });

  it('after a front-channel logout no silent attempt is suggested or made', async () => {
    const browser = stack.browser();
    const sidsBefore = new Set(env.keys('logout:sid:'));
    await stack.signIn(browser, 'bob');
    const sid = env.keys('logout:sid:').find((k) => !sidsBefore.has(k))!.split(' ').pop()!;
    const [frame] = await loadIframes([`${stack.url}/auth/frontchannel-logout?iss=${encodeURIComponent(stack.bff.idp.issuer)}&sid=${encodeURIComponent(sid)}`]);
    expect(frame!.status).toBe(200);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    expect((await silentSignIn(stack, browser, '/')).wentToIdp).toBe(false);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
  });

  it('after a back-channel logout no silent attempt is suggested or made', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    const sub = (await browser.api(`${stack.url}/api/me`)).json().sub as string;
    const signingKey = stack.bff.devIdp!.signingKey;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: stack.bff.idp.issuer, aud: stack.bff.idp.clientId, iat: now, exp: now + 120, jti: randomUUID(), sub, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
      .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid!, typ: 'logout+jwt' })
      .sign(await importJWK(signingKey, 'RS256'));
    const res = await stack.browser().post(`${stack.url}/auth/backchannel-logout`, { form: { logout_token: token } });
    expect(res.status).toBe(200);
    // The page's next API call is the first to learn it.
    expect((await browser.api(`${stack.url}/api/me`)).status).toBe(401);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    expect((await silentSignIn(stack, browser, '/')).wentToIdp).toBe(false);
  });

  it('a session that ends on an API call (the 401 clears its cookie) is not followed by a silent sign-in', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    const sub = (await browser.api(`${stack.url}/api/me`)).json().sub as string;
    await stack.bff.stores.tokens.delete(sub);
    expect((await browser.api(`${stack.url}/api/me`)).json().error).toBe('reauthenticate');
    expect((await browser.jar.getCookies(stack.url)).map((c) => c.key)).not.toContain('bff.sid');
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    expect((await silentSignIn(stack, browser, '/')).wentToIdp).toBe(false);
  });

  it('prompt takes only none: any other value is 400 bad_request', async () => {
    for (const prompt of ['login', 'consent', 'none login', '']) {
      const res = await stack.browser().get(`${stack.url}/auth/login?prompt=${encodeURIComponent(prompt)}`);
      expect(res.status).toBe(400);
      expect(res.json().error).toBe('bad_request');
    }
  });
});

describe('silent sign-in switched off (SILENT_SIGN_IN=0)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ SILENT_SIGN_IN: '0' });
  });
  afterAll(() => stack?.close());

  it('suggests no attempt and makes none, even for a user signed in at the IdP', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    await clearBffCookies(browser, stack.url);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
    const run = await silentSignIn(stack, browser, '/todos');
    expect(run.wentToIdp).toBe(false);
    expect(run.last.headers.location).toBe(`${stack.url}/todos`);
    expect(await session(stack, browser)).toEqual({ isAuthenticated: false });
  });
});
