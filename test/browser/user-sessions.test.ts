import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildClientIfNeeded } from '../../server/client-build';
import { createStores } from '../../server/stores';
import { launchChromium, newLoopbackContext, skipBrowserTests } from '../support/chromium';
import { startStack, type Stack } from '../support/stack';
import { RecordingMemory, TokenWatch } from './support/no-tokens';
import { apiStatusFrom, cameBackTo, collectErrors, headerSignIn, screenshot, submitIdpLogin } from './support/pages';

const CHROME_ON_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_ON_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

describe.skipIf(skipBrowserTests())('"Your sessions" in Chromium: two browsers signed in as alice', () => {
  let stack: Stack;
  let browser: Browser;
  let tokens: TokenWatch;

  beforeAll(async () => {
    buildClientIfNeeded();
    const memory = new RecordingMemory();
    stack = await startStack({}, { stores: createStores({}, { memory }) });
    tokens = new TokenWatch(stack, memory);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  /** A browser profile of its own (its own cookies, its own IdP session) signed in to the SPA as alice. */
  async function signedInWindow(userAgent: string, viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await newLoopbackContext(browser, { userAgent, viewport });
    await tokens.watch(context);
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const errors = collectErrors(page, stack.url);
    await page.goto(stack.url);
    await headerSignIn(page).click();
    await submitIdpLogin(page, new URL(stack.bff.idp.issuer).origin, 'alice', 'password');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.getByRole('banner').getByText('Alice Example').waitFor();
    return { context, page, errors };
  }

  // SECURITY.md names this test: keep its name.
  test("in one browser, the sessions page lists both, signs out the other device, and that browser's next action shows it signed out", async () => {
    const laptop = await signedInWindow(CHROME_ON_WINDOWS, { width: 1280, height: 800 });
    const phone = await signedInWindow(SAFARI_ON_IPHONE, { width: 375, height: 812 });

    // The account menu leads to the sessions page.
    await laptop.page.getByRole('banner').getByRole('link', { name: 'Your sessions' }).click();
    const page = laptop.page;
    await page.getByRole('heading', { level: 1, name: 'Your sessions' }).waitFor();
    const items = page.getByRole('main').getByRole('listitem');
    await items.nth(1).waitFor();
    expect(await items.count()).toBe(2);
    const here = items.filter({ has: page.getByText('This device', { exact: true }) });
    expect(await here.count()).toBe(1);
    expect(await here.textContent()).toContain('Chrome on Windows');
    expect(await here.getByRole('button').count(), 'no "Sign out this device" on this one').toBe(0);
    const other = items.filter({ hasText: 'Safari on iPhone' });
    const signOutOther = other.getByRole('button', { name: 'Sign out this device' });
    // Its description names the device, so a screen reader's list of buttons tells them apart.
    expect(await signOutOther.getAttribute('aria-describedby')).toBe(await other.locator('.session-device').getAttribute('id'));
    await page.getByRole('button', { name: 'Sign out everywhere' }).waitFor();
    expect(await page.title()).toBe('Your sessions · Global Sign-out BFF');
    await screenshot(page, '20-sessions-wide');
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, '21-sessions-narrow');
    // Narrow: nothing wider than the screen.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await page.setViewportSize({ width: 1280, height: 800 });

    await signOutOther.click();
    await page.getByRole('status').filter({ hasText: 'Safari on iPhone was signed out.' }).waitFor();
    await items.filter({ hasText: 'Safari on iPhone' }).waitFor({ state: 'detached' });
    expect(await items.count()).toBe(1);
    await screenshot(page, '22-sessions-other-device-signed-out');

    // The phone's next action (opening its own sessions page) finds its session gone.
    await phone.page.getByRole('banner').getByRole('link', { name: 'Your sessions' }).click();
    await phone.page.getByRole('heading', { name: 'You have been signed out' }).waitFor();
    await phone.page.getByRole('main').getByRole('button', { name: 'Sign in again' }).waitFor();
    expect(await apiStatusFrom(phone.page, '/api/me')).toBe(401);
    await screenshot(phone.page, '23-device-signed-out-elsewhere');

    // Only that session ended: this browser still calls the API with alice's tokens.
    expect(await apiStatusFrom(page, '/api/me')).toBe(200);
    await tokens.snapshotStorage(page, 'after signing out the other device');
    expect((await tokens.verify()).unread).toEqual([]);
    expect(laptop.errors).toEqual([]);
    expect(phone.errors).toEqual([]);
  }, 90_000);
});
