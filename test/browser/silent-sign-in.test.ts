import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { buildClientIfNeeded } from '../../server/client-build';
import { createStores } from '../../server/stores';
import type { SessionInfo } from '../../shared/api';
import { launchChromium, skipBrowserTests } from '../support/chromium';
import { startStack, type Stack } from '../support/stack';
import { RecordingMemory, TokenWatch } from './support/no-tokens';
import { cameBackTo, headerSignIn, screenshot, submitIdpLogin, watchedPage } from './support/pages';

describe.skipIf(skipBrowserTests())('silent sign-in (prompt=none), in Chromium against the whole stack', () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let tokens: TokenWatch;
  /** Top-level navigations of the page to the IdP, and which of them got its login form. */
  let toIdp: string[];
  let loginForms: number;

  beforeAll(() => {
    buildClientIfNeeded();
  });

  beforeEach(async () => {
    const memory = new RecordingMemory();
    stack = await startStack({}, { stores: createStores({}, { memory }) });
    tokens = new TokenWatch(stack, memory);
    browser = await launchChromium();
    ({ context, page, errors } = await watchedPage(browser, tokens, stack.url));
    toIdp = [];
    loginForms = 0;
    page.on('request', (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame() && new URL(request.url()).origin === idpOrigin()) toIdp.push(request.url());
    });
    page.on('response', (response) => {
      if (new URL(response.url()).origin === idpOrigin() && new URL(response.url()).pathname.startsWith('/interaction/')) loginForms++;
    });
  });

  afterEach(async () => {
    await browser?.close();
    await stack?.close();
  });

  const idpOrigin = () => new URL(stack.bff.idp.issuer).origin;
  const signedOutHeading = () => page.getByRole('heading', { name: 'Sign in to see your todos' });
  const sessionInfo = async () => (await (await context.request.get(`${stack.url}/auth/session`)).json()) as SessionInfo;

  /** Forgets the BFF's cookies (bff.*), keeping the IdP's: the BFF session is gone, the IdP session lives. */
  async function clearBffCookies() {
    for (const cookie of await context.cookies(stack.url)) {
      if (cookie.name.startsWith('bff.')) await context.clearCookies({ name: cookie.name, domain: cookie.domain, path: cookie.path });
    }
  }

  async function signInWithAClick() {
    await page.goto(stack.url);
    await headerSignIn(page).click();
    await submitIdpLogin(page, idpOrigin(), 'alice', 'password');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.getByRole('banner').getByText('Alice Example').waitFor();
  }

  test('a user still signed in at the IdP lands signed in without a click once the BFF session is gone', async () => {
    await signInWithAClick();
    // The signed-in page's own API calls answer first: leaving it mid-fetch drops their bodies.
    await page.waitForLoadState('networkidle');
    await clearBffCookies();
    toIdp = [];
    loginForms = 0;

    await page.goto(`${stack.url}/session`);
    await page.getByRole('banner').getByText('Alice Example').waitFor();
    // Back on the route the page was loaded at, after one trip to the IdP that showed nothing.
    expect(new URL(page.url()).pathname).toBe('/session');
    expect(toIdp).toHaveLength(1);
    expect(new URL(toIdp[0]!).searchParams.get('prompt')).toBe('none');
    expect(loginForms).toBe(0);
    expect((await sessionInfo()).isAuthenticated).toBe(true);
    await screenshot(page, '50-silent-sign-in-signed-in');

    const found = await tokens.verify({ everyUrl: true });
    expect(found.unread).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);

  test('a fresh browser makes one silent round trip and lands on the signed-out view with no error, and makes no second one', async () => {
    await page.goto(`${stack.url}/session`);
    await signedOutHeading().waitFor();
    expect(toIdp).toHaveLength(1);
    expect(new URL(toIdp[0]!).searchParams.get('prompt')).toBe('none');
    expect(loginForms).toBe(0);
    expect(new URL(page.url()).pathname).toBe('/session');
    expect(await page.getByRole('alert').count()).toBe(0);
    await headerSignIn(page).waitFor();
    await screenshot(page, '51-silent-sign-in-signed-out');

    // Loading the page again, in this tab or another: no second round trip.
    await page.reload();
    await signedOutHeading().waitFor();
    const other = await context.newPage();
    await other.goto(stack.url);
    await other.getByRole('heading', { name: 'Sign in to see your todos' }).waitFor();
    expect(toIdp).toHaveLength(1);
    expect(await sessionInfo()).toEqual({ isAuthenticated: false });
    expect(errors).toEqual([]);
  }, 60_000);

  test('a user who signed out here is not signed back in silently, even when the IdP session lives on', async () => {
    await signInWithAClick();
    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    // At the IdP's "sign out?" page, the user goes back to the app instead of confirming.
    await page.waitForURL((url) => url.origin === idpOrigin());
    await page.getByRole('button', { name: 'Yes, sign me out' }).waitFor();
    toIdp = [];

    await page.goto(stack.url);
    await signedOutHeading().waitFor();
    expect(toIdp).toEqual([]);
    expect(await sessionInfo()).toEqual({ isAuthenticated: false });
    // The IdP session did live on: a click signs in with no password form to fill.
    await headerSignIn(page).click();
    await page.getByRole('banner').getByText('Alice Example').waitFor();
    expect(errors).toEqual([]);
  }, 60_000);
});
