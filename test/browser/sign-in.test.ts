import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { buildClientIfNeeded } from '../../server/client-build';
import type { SessionInfo } from '../../shared/api';
import { createStores } from '../../server/stores';
import { launchChromium, skipBrowserTests } from '../support/chromium';
import { startStack, type Stack } from '../support/stack';
import { RecordingMemory, TokenWatch } from './support/no-tokens';
import { apiStatusFrom, cameBackTo, headerSignIn, screenshot, submitIdpLogin, watchedPage } from './support/pages';

describe.skipIf(skipBrowserTests())('signing in and out of the SPA, in Chromium against the whole stack', () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let tokens: TokenWatch;
  let memory: RecordingMemory;

  beforeAll(() => {
    // The BFF serves dist/client: build it when it is missing or older than the sources.
    buildClientIfNeeded();
  });

  beforeEach(async () => {
    memory = new RecordingMemory();
    stack = await startStack({}, { stores: createStores({}, { memory }) });
    tokens = new TokenWatch(stack, memory);
    browser = await launchChromium();
    ({ context, page, errors } = await watchedPage(browser, tokens, stack.url));
  });

  afterEach(async () => {
    await browser?.close();
    await stack?.close();
  });

  const idpOrigin = () => new URL(stack.bff.idp.issuer).origin;

  async function signIn(username = 'alice', name = 'Alice Example') {
    await page.goto(stack.url);
    await headerSignIn(page).click();
    await submitIdpLogin(page, idpOrigin(), username, 'password');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.getByRole('banner').getByText(name).waitFor();
  }

  // SECURITY.md names this test: keep its name.
  test('signing in through the IdP shows the user and the API answers, and no token or secret reaches the browser', async () => {
    await page.goto(stack.url);
    await headerSignIn(page).waitFor();
    await page.getByRole('heading', { name: 'Sign in to see your todos' }).waitFor();
    await screenshot(page, '01-signed-out');

    await headerSignIn(page).click();
    await submitIdpLogin(page, idpOrigin(), 'alice', 'password', '02-idp-login');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.waitForURL(`${stack.url}/`);

    const banner = page.getByRole('banner');
    await banner.getByText('Alice Example').waitFor();
    expect(await banner.textContent()).toContain('Global Sign-out BFF');
    await banner.getByRole('button', { name: 'Sign out' }).waitFor();
    // The profile and the todo list load by themselves, through the BFF.
    const profile = page.getByRole('region', { name: 'Profile' });
    const todos = page.getByRole('region', { name: 'Todos' });
    await profile.getByText('alice', { exact: true }).waitFor();
    expect(await profile.textContent()).toContain('Alice Example');
    await todos.getByRole('listitem').filter({ hasText: 'Read the sign-out invariant' }).waitFor();
    expect(await todos.getByRole('listitem').count()).toBe(2);
    await screenshot(page, '03-signed-in');
    await tokens.snapshotStorage(page, 'signed in');

    // Small screens: the same content, one column.
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, '04-signed-in-narrow');
    await page.setViewportSize({ width: 1100, height: 760 });

    // Keyboard: the skip link is the first stop and moves to the content.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(`document.activeElement?.textContent`)).toBe('Skip to content');

    const found = await tokens.verify({ everyUrl: true });
    expect(found.refreshTokens, 'the BFF held a refresh token to look for').toBeGreaterThan(0);
    expect(found.unread).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);

  test('a wrong password at the IdP shows an error and signs nobody in', async () => {
    await page.goto(stack.url);
    await headerSignIn(page).click();
    await submitIdpLogin(page, idpOrigin(), 'alice', 'not-the-password');
    await page.getByRole('alert').getByText('Wrong username or password').waitFor();
    expect(new URL(page.url()).origin).toBe(idpOrigin());
    await screenshot(page, '05-idp-wrong-password');

    const session = await context.request.get(`${stack.url}/auth/session`);
    expect((await session.json()) as SessionInfo).toEqual({ isAuthenticated: false });
  }, 60_000);

  test('signing out from the SPA comes back signed out, and the IdP session is ended too (signing in again asks for the password)', async () => {
    await signIn();
    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.origin === idpOrigin());
    const confirm = page.getByRole('button', { name: 'Yes, sign me out' });
    await confirm.waitFor();
    await screenshot(page, '06-idp-end-session');
    await confirm.click();

    await cameBackTo(page, stack.url, 'after confirming the sign-out at the IdP');
    await page.getByRole('heading', { name: 'You have signed out' }).waitFor();
    await headerSignIn(page).waitFor();
    // The IdP's `state` is taken out of the address bar: it must not become a returnTo.
    expect(page.url()).toBe(`${stack.url}/`);
    await screenshot(page, '07-signed-out-by-user');
    await tokens.snapshotStorage(page, 'signed out');
    const session = await context.request.get(`${stack.url}/auth/session`);
    expect((await session.json()) as SessionInfo).toEqual({ isAuthenticated: false });
    expect(await apiStatusFrom(page, '/api/me')).toBe(401);

    // The IdP forgot the user too: signing in again shows the password form instead of SSO.
    await page.getByRole('main').getByRole('button', { name: 'Sign in again' }).click();
    await page.waitForURL((url) => url.origin === idpOrigin());
    await page.getByLabel('Password').waitFor();
    expect(await page.getByLabel('Password').inputValue()).toBe('');

    const found = await tokens.verify({ everyUrl: true });
    expect(found.refreshTokens).toBeGreaterThan(0);
    expect(found.unread).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);

  test('signing out after the BFF session ended still ends the IdP session (signing in again asks for the password)', async () => {
    await signIn();
    // Everything the page loads by itself is in, so nothing but the click talks to the BFF next.
    await page.getByRole('region', { name: 'Todos' }).getByRole('listitem').first().waitFor();
    await page.getByRole('region', { name: 'Profile' }).getByText('alice', { exact: true }).waitFor();
    // The BFF session ends on the server (as an idle timeout ends it); the IdP session lives on.
    for (const key of [...memory.keys()].filter((k) => k.startsWith('sessions:'))) memory.delete(key);
    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.origin === idpOrigin());
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await cameBackTo(page, stack.url, 'after confirming the sign-out at the IdP');
    await headerSignIn(page).click();
    await page.waitForURL((url) => url.origin === idpOrigin());
    await page.getByLabel('Password').waitFor();
    expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
  }, 60_000);

  test('a deep link while signed out: signing in comes back to that route', async () => {
    await page.goto(`${stack.url}/session`);
    await headerSignIn(page).click();
    await submitIdpLogin(page, idpOrigin(), 'bob', 'password');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.waitForURL(`${stack.url}/session`);
    await page.getByRole('heading', { name: 'Your session' }).waitFor();
    expect(await page.getByRole('main').textContent()).toContain('bob@example.test');
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Session' }).getAttribute('aria-current')).toBe('page');
    await screenshot(page, '08-session-route');

    // Client-side navigation: the todos load, the focus moves to the new content.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Todos' }).click();
    await page.waitForURL(`${stack.url}/`);
    await page.getByRole('region', { name: 'Todos' }).getByRole('listitem').first().waitFor();
    expect(await page.evaluate(`document.activeElement?.id`)).toBe('main');
    expect((await tokens.verify({ everyUrl: true })).unread).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);
});
