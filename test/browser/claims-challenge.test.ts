import type { Browser, Page } from 'playwright-core';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { buildClientIfNeeded } from '../../server/client-build';
import type { SampleApiControls } from '../../server/sample-api';
import { launchChromium, newLoopbackContext, skipBrowserTests } from '../support/chromium';
import { startStack, type Stack } from '../support/stack';
import { cameBackTo, collectErrors, headerSignIn, submitIdpLogin } from './support/pages';

/**
 * A claims challenge from the API reaches the SPA as 401 reauthenticate with a signInUrl: the
 * page goes there by itself (a top-level navigation), signs in again asking the IdP for the
 * claims, and comes back to the same route; it never loops.
 */
describe.skipIf(skipBrowserTests())('a claims challenge from the API, in Chromium against the whole stack', () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  let api: SampleApiControls;
  let errors: string[];
  /** Every URL the page's main frame was sent to (redirects included), in order. */
  let visited: string[];

  beforeAll(() => {
    buildClientIfNeeded();
  });

  beforeEach(async () => {
    stack = await startStack();
    api = stack.bff.sampleApi!.controls;
    browser = await launchChromium();
    const context = await newLoopbackContext(browser);
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    errors = collectErrors(page, stack.url);
    visited = [];
    page.on('request', (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) visited.push(request.url());
    });
    await page.goto(stack.url);
    await headerSignIn(page).click();
    await submitIdpLogin(page, new URL(stack.bff.idp.issuer).origin, 'alice', 'password');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.getByRole('banner').getByText('Alice Example').waitFor();
    // The page's own calls are done before a test changes what the API demands.
    await todoItems().first().waitFor();
  });

  afterEach(async () => {
    await browser?.close();
    await stack?.close();
  });

  const todoItems = () => page.getByRole('region', { name: 'Todos' }).getByRole('listitem');
  const todoCalls = () => api.calls.filter((c) => c.path === '/todos').map((c) => ({ status: c.status, acrs: c.acrs }));

  test('the SPA follows a claims challenge to the sign-in it names and comes back to the same route, where the call then succeeds', async () => {
    api.reset();
    api.requireAuthContext('/todos', 'c1');
    visited = [];
    // The page leaves by itself as soon as the API answers: no "load" to wait for.
    await page.goto(`${stack.url}/?list=open`, { waitUntil: 'commit' });
    await todoItems().first().waitFor();
    expect(page.url()).toBe(`${stack.url}/?list=open`);
    const signIns = visited.filter((u) => u.startsWith(`${stack.url}/auth/login?`));
    expect(signIns).toHaveLength(1);
    expect(new URL(signIns[0]!).searchParams.get('returnTo')).toBe('/?list=open');
    expect(todoCalls()).toEqual([
      { status: 401, acrs: [] },
      { status: 200, acrs: ['c1'] },
    ]);
    // The route, the BFF's sign-in, the IdP, the BFF's callback, and the same route again.
    const bffPages = visited.filter((u) => u.startsWith(stack.url)).map((u) => new URL(u).pathname + (u.includes('/auth/') ? '' : new URL(u).search));
    expect(bffPages).toEqual(['/?list=open', '/auth/login', '/auth/callback', '/?list=open']);
    expect(errors).toEqual([]);
  });

  test('a second challenge on the same route soon after is not followed by itself: the page offers “Sign in again”, which goes to the sign-in the API asked for', async () => {
    api.requireAuthContext('/todos', 'c1');
    // This route was sent to sign in a moment ago (what the first challenge leaves behind).
    await page.evaluate(() => sessionStorage.setItem('bff.claimsSignIn:/', String(Date.now())));
    visited = [];
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in again to continue' }).waitFor();
    expect(visited.filter((u) => u.includes('/auth/login'))).toEqual([]);
    expect(page.url()).toBe(`${stack.url}/`);
    // The session lives on: it was not announced or treated as signed out.
    expect((await page.evaluate(() => fetch('/auth/session', { headers: { 'X-CSRF': '1' } }).then((r) => r.json()))).isAuthenticated).toBe(true);

    await page.getByRole('main').getByRole('button', { name: 'Sign in again' }).click();
    await todoItems().first().waitFor();
    expect(visited.filter((u) => u.startsWith(`${stack.url}/auth/login?`)).map((u) => new URL(u).searchParams.has('claims'))).toEqual([true]);
    expect(todoCalls().at(-1)).toEqual({ status: 200, acrs: ['c1'] });
  });
});
