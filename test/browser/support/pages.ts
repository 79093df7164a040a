import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { newLoopbackContext } from '../../support/chromium';
import type { TokenWatch } from './no-tokens';

export const ARTIFACTS = 'test/artifacts';

export function screenshot(page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
}

/**
 * Errors a page logs at `origin` (a CSP violation shows here) and uncaught exceptions. The
 * browser's own line for each 4xx answer is left out: a signed-out page gets 401s by design.
 */
export function collectErrors(page: Page, origin: string): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error' || !message.location().url.startsWith(origin)) return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
    errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

/** Waits for the browser to be back at `origin`; on a timeout, says which page it is stuck on. */
export async function cameBackTo(page: Page, origin: string, when: string) {
  try {
    await page.waitForURL((url) => url.origin === new URL(origin).origin);
  } catch (err) {
    const text = await page.locator('body').innerText().catch(() => '');
    throw new Error(`${when}, the browser stayed at ${page.url()}:\n${text.slice(0, 500)}`, { cause: err });
  }
}

/** The header's "Sign in" (the signed-out view has a button of its own). */
export const headerSignIn = (page: Page) => page.getByRole('banner').getByRole('button', { name: 'Sign in', exact: true });

/** On the IdP's login page: fills the form and submits it. */
export async function submitIdpLogin(page: Page, idpOrigin: string, username: string, password: string, shot?: string) {
  await page.waitForURL((url) => url.origin === idpOrigin);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  if (shot) await screenshot(page, shot);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Headless Chromium keeps every page "visible" and focused, whichever is in front, so no
 * visibilitychange ever fires. The tests play the tab switch the browser would report: the
 * page's document says hidden or visible and gets the event, exactly as when a user switches
 * tabs. Everything after the event is the SPA's real code against the real BFF.
 */
export async function setTabVisibility(page: Page, state: 'hidden' | 'visible') {
  await page.evaluate(`(() => {
    const state = ${JSON.stringify(state)};
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  })()`);
}

/**
 * A BFF call from the page's own origin, as the SPA makes it: its status. The body is read, so
 * the response completes and the token scan can read it too.
 */
export function apiStatusFrom(page: Page, path: string): Promise<number> {
  return page.evaluate(`fetch(${JSON.stringify(path)}, { headers: { 'X-CSRF': '1', Accept: 'application/json' } }).then(async (r) => { await r.text(); return r.status; })`);
}

/**
 * A fresh browser window whose every response `tokens` watches, with one page (10 s default
 * timeout) whose console and page errors at `origin` are collected.
 */
export async function watchedPage(browser: Browser, tokens: TokenWatch, origin: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await newLoopbackContext(browser);
  await tokens.watch(context);
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return { context, page, errors: collectErrors(page, origin) };
}
