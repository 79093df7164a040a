import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseForm } from '../support/browser';
import { startInspectableStack, type Stack } from '../support/stack';

/** Every bad input is a 4xx JSON problem with a stable code, creates no session, stores nothing. */
describe('bad input at /auth/callback and /api', () => {
  let stack: Stack;
  let keys: (prefix?: string) => string[];

  beforeAll(async () => {
    ({ stack, keys } = await startInspectableStack());
  });
  afterAll(() => stack?.close());

  const expectProblem = (res: { status: number; headers: http.IncomingHttpHeaders; json(): any }, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    const body = res.json();
    expect(body.error).toBe(code);
    expect(typeof body.message).toBe('string');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+|Error:/);
  };

  it('a method no route knows, on any route, is 405 method_not_allowed, never a 5xx', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    for (const method of ['PROPFIND', 'M-SEARCH', 'LOCK', 'MKCOL', 'REPORT', 'PURGE', 'LINK', 'QUERY']) {
      for (const path of ['/', '/auth/login', '/auth/session', '/auth/logout', '/auth/end-session', '/healthz', '/api/me', '/nowhere']) {
        const res = await browser.api(`${stack.url}${path}`, { method });
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 405 });
        expectProblem(res, 405, 'method_not_allowed');
      }
    }
  });

  it('an authorization response from another issuer, or without the iss the IdP promises, is refused before the code is redeemed (RFC 9207)', async () => {
    expect(stack.bff.idp.issInAuthorizationResponse).toBe(true);
    for (const iss of ['https://evil.example', `${stack.bff.idp.issuer}/`, stack.bff.idp.issuer.toUpperCase(), undefined]) {
      const browser = stack.browser();
      const login = await browser.get(`${stack.url}/auth/login`);
      // Follow the IdP up to its redirect back, without making the callback request.
      const loginPage = await browser.get(login.headers.location!, { follow: true });
      const form = parseForm(loginPage.body, loginPage.url);
      let res = await browser.post(form.action, { form: { ...form.fields, username: 'alice', password: 'password' } });
      while (!res.headers.location!.startsWith(`${stack.url}/auth/callback`)) res = await browser.get(new URL(res.headers.location!, res.url).toString());
      const callback = new URL(res.headers.location!);
      expect(callback.searchParams.get('iss')).toBe(stack.bff.idp.issuer);
      if (iss === undefined) callback.searchParams.delete('iss');
      else callback.searchParams.set('iss', iss);
      const answer = await browser.get(callback.toString());
      expectProblem(answer, 400, 'invalid_issuer');
      expect((await browser.api(`${stack.url}/auth/session`)).json()).toMatchObject({ isAuthenticated: false });
    }
  });

  it('a callback with no state is login_state_missing and stores nothing', async () => {
    const browser = stack.browser();
    const before = keys().length;
    expectProblem(await browser.get(`${stack.url}/auth/callback?code=abc`), 400, 'login_state_missing');
    expect(keys().length).toBe(before);
    expect(await browser.cookie(stack.url, 'bff.sid')).toBeUndefined();
  });

  it('a callback with a state this browser never started is login_state_mismatch', async () => {
    const browser = stack.browser();
    await browser.get(`${stack.url}/auth/login`);
    expectProblem(await browser.get(`${stack.url}/auth/callback?code=abc&state=forged`), 400, 'login_state_mismatch');
    expect((await browser.api(`${stack.url}/auth/session`)).json()).toMatchObject({ isAuthenticated: false });
  });

  it('an error from the IdP is idp_error and signs nobody in', async () => {
    const browser = stack.browser();
    const login = await browser.get(`${stack.url}/auth/login`);
    const state = new URL(login.headers.location!).searchParams.get('state')!;
    const tokensBefore = keys('tokens:').length;
    expectProblem(await browser.get(`${stack.url}/auth/callback?error=access_denied&error_description=nope&state=${state}`), 400, 'idp_error');
    expect((await browser.api(`${stack.url}/auth/session`)).json()).toMatchObject({ isAuthenticated: false });
    expect(keys('tokens:').length).toBe(tokensBefore);
  });

  it('a callback replayed after sign-in is refused, and a code used twice is refused by the IdP', async () => {
    const browser = stack.browser();
    const toIdp = await browser.get(`${stack.url}/auth/login`);
    const loginPage = await browser.get(toIdp.headers.location!, { follow: true });
    const form = parseForm(loginPage.body, loginPage.url);
    let res = await browser.post(form.action, { form: { ...form.fields, username: 'alice', password: 'password' } });
    while (res.status >= 300 && res.status < 400 && !res.headers.location!.startsWith(`${stack.url}/auth/callback`)) {
      res = await browser.get(new URL(res.headers.location!, res.url).toString());
    }
    const callbackUrl = new URL(res.headers.location!);
    expect((await browser.get(callbackUrl.toString())).status).toBe(302);

    // The same response again: its state is used up.
    expectProblem(await browser.get(callbackUrl.toString()), 400, 'login_state_mismatch');
    // The same code under a fresh, valid state: the IdP refuses to redeem it twice.
    const again = await browser.get(`${stack.url}/auth/login`);
    const freshState = new URL(again.headers.location!).searchParams.get('state')!;
    const code = callbackUrl.searchParams.get('code')!;
    const iss = encodeURIComponent(stack.bff.idp.issuer);
    expectProblem(await browser.get(`${stack.url}/auth/callback?code=${encodeURIComponent(code)}&state=${freshState}&iss=${iss}`), 400, 'login_failed');
  });

  it('an unauthenticated API call is 401 unauthenticated', async () => {
    expectProblem(await stack.browser().api(`${stack.url}/api/me`), 401, 'unauthenticated');
  });

  it('an API call without the X-CSRF header, or from another site, is refused before anything else', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    expectProblem(await browser.get(`${stack.url}/api/me`, { headers: { accept: 'application/json' } }), 403, 'csrf_required');
    expectProblem(await browser.api(`${stack.url}/api/me`, { headers: { 'sec-fetch-site': 'cross-site' } }), 403, 'cross_site_request');
  });

  it.each([
    ['/api/../auth/session'],
    ['/api/%2e%2e/%2e%2e/admin'],
    ['/api/%2E%2E%2Fsecret'],
    ['/api//evil.example/x'],
    ['/api/%2F%2Fevil.example'],
    ['/api/me%5C..%5C..%5Cx'],
    ['/api/%00me'],
    ['/api/%zz'],
  ])('the API path %s is invalid_path and goes nowhere', async (path) => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    const res = await browser.api(stack.url, { rawPath: path });
    // Paths the HTTP layer normalizes away before routing never reach the API either.
    if (res.status === 404) expectProblem(res, 404, 'not_found');
    else expectProblem(res, 400, 'invalid_path');
  });

  it('a user whose token cache entry is gone must sign in again (401 reauthenticate)', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    const sub = (await browser.api(`${stack.url}/api/me`)).json().sub as string;
    await stack.bff.stores.tokens.delete(sub);
    expectProblem(await browser.api(`${stack.url}/api/me`), 401, 'reauthenticate');
    // The session that can no longer call the API has ended: no page believes it is signed in.
    expect((await browser.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
  });
});

describe('the API proxy when the downstream API fails', () => {
  it('answers 502 when the API is down and 504 when it is too slow', async () => {
    const hanging = http.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => hanging.listen(0, 'localhost', () => resolve()));
    const port = (hanging.address() as AddressInfo).port;
    const { stack } = await startInspectableStack({ API_BASE_URL: `http://localhost:${port}`, API_TIMEOUT_MS: '300' });
    try {
      const browser = stack.browser();
      await stack.signIn(browser, 'alice');
      const slow = await browser.api(`${stack.url}/api/me`);
      expect(slow.status).toBe(504);
      expect(slow.json().error).toBe('upstream_timeout');

      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
      const down = await browser.api(`${stack.url}/api/me`);
      expect(down.status).toBe(502);
      expect(down.json().error).toBe('upstream_unavailable');
    } finally {
      await stack.close();
    }
  });
});
