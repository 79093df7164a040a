import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { SessionInfo } from '../../shared/api';
import { DEV_BFF_CLIENT_SECRET } from '../../server/dev-idp';
import { launchChromium, newLoopbackContext, skipBrowserTests } from '../support/chromium';
import { startStack, type Stack } from '../support/stack';

const ARTIFACTS = 'test/artifacts';
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;
const TEXT_TYPES = /text\/html|application\/json|javascript/i;

describe.skipIf(skipBrowserTests())('the SPA in Chromium against the whole stack', () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let consoleErrors: string[];

  beforeAll(() => {
    // The BFF serves dist/client: build it when it is missing or older than the sources.
    execSync('node scripts/build-client-if-needed.mjs', { stdio: 'inherit' });
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  beforeEach(async () => {
    stack = await startStack();
    browser = await launchChromium();
    context = await newLoopbackContext(browser);
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    // Errors logged on the BFF's own pages: a CSP violation (inline style or script) shows here.
    consoleErrors = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && message.location().url.startsWith(stack.url)) consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
  });

  afterEach(async () => {
    await browser?.close();
    await stack?.close();
  });

  const idpOrigin = () => new URL(stack.bff.devIdp!.issuer).origin;
  const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

  /** From the signed-out SPA through the IdP's login form; resolves on the IdP's answer. */
  async function submitIdpLogin(username: string, password: string, screenshot?: string) {
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.origin === idpOrigin());
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    if (screenshot) await shot(screenshot);
    await page.locator('form button[type="submit"]').click();
  }

  async function signIn(username = 'alice', name = 'Alice Example') {
    await page.goto(stack.url);
    await submitIdpLogin(username, 'password');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.waitForURL(`${stack.url}/`);
    await page.getByRole('banner').getByText(name).waitFor();
  }

  test('signing in through the IdP shows the user and the API answers, and no token or secret reaches the browser', async () => {
    const traffic = recordTraffic(page, stack.url);

    await page.goto(stack.url);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot('01-signed-out');

    await submitIdpLogin('alice', 'password', '02-idp-login');
    await cameBackTo(page, stack.url, 'after signing in at the IdP');
    await page.waitForURL(`${stack.url}/`);
    await page.getByRole('banner').getByText('Alice Example').waitFor();
    expect(await page.getByRole('banner').textContent()).toContain('Global Sign-out BFF');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await shot('03-signed-in');

    await page.getByRole('button', { name: 'Call the API' }).click();
    const profile = page.getByRole('region', { name: 'Profile' });
    const todos = page.getByRole('region', { name: 'Todos' });
    await profile.getByText('alice', { exact: true }).waitFor();
    await todos.getByText('Read the sign-out invariant').waitFor();
    expect(await profile.textContent()).toContain('Alice Example');
    await shot('04-api-answers');

    const { bodies, headers, urls, unread } = await traffic.settled();
    expect(bodies.map((b) => b.url)).toEqual(expect.arrayContaining([`${stack.url}/`, `${stack.url}/auth/session`, `${stack.url}/api/me`, `${stack.url}/api/todos`]));
    expect(unread).toEqual([]);
    for (const { url, text } of [...bodies, ...headers]) {
      expect(text, `JWT in the response from ${url}`).not.toMatch(JWT);
      expect(text, `client secret in the response from ${url}`).not.toContain(DEV_BFF_CLIENT_SECRET);
    }
    // Every URL the browser loaded, at any origin: no token in a query string either.
    for (const url of urls) expect(url, 'JWT in a URL the browser loaded').not.toMatch(JWT);
    expect(consoleErrors).toEqual([]);
  }, 60_000);

  test('a wrong password at the IdP shows an error and signs nobody in', async () => {
    await page.goto(stack.url);
    await submitIdpLogin('alice', 'not-the-password');
    await page.getByRole('alert').getByText('Wrong username or password').waitFor();
    expect(new URL(page.url()).origin).toBe(idpOrigin());
    await shot('05-idp-wrong-password');

    const session = await context.request.get(`${stack.url}/auth/session`);
    expect((await session.json()) as SessionInfo).toEqual({ isAuthenticated: false });
  }, 60_000);

  test('signing out ends the IdP session too and comes back signed out', async () => {
    await signIn();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.origin === idpOrigin());
    const confirm = page.locator('button[value="yes"]').or(page.getByRole('button', { name: /sign me out/i })).first();
    await confirm.waitFor();
    await shot('06-idp-end-session');
    await confirm.click();

    await cameBackTo(page, stack.url, 'after confirming the sign-out at the IdP');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await shot('07-signed-out-again');
    const session = await context.request.get(`${stack.url}/auth/session`);
    expect((await session.json()) as SessionInfo).toEqual({ isAuthenticated: false });

    // The IdP forgot the user too: signing in again asks for the password instead of SSO.
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.origin === idpOrigin());
    await page.locator('input[name="password"]').waitFor();
    expect(consoleErrors).toEqual([]);
  }, 60_000);
});

/** Waits for the browser to be back at `origin`; on a timeout, says which page it is stuck on. */
async function cameBackTo(page: Page, origin: string, when: string) {
  try {
    await page.waitForURL((url) => url.origin === new URL(origin).origin);
  } catch (err) {
    const text = await page.locator('body').innerText().catch(() => '');
    throw new Error(`${when}, the browser stayed at ${page.url()}:\n${text.slice(0, 500)}`, { cause: err });
  }
}

interface Seen {
  url: string;
  text: string;
}

/**
 * Everything the browser receives from the BFF (text bodies and all headers) and every URL it
 * requests anywhere, for the "no token ever reaches the browser" checks.
 */
function recordTraffic(page: Page, bffOrigin: string) {
  const bodies: Seen[] = [];
  const headers: Seen[] = [];
  const urls: string[] = [];
  const unread: string[] = [];
  const pending: Promise<unknown>[] = [];
  page.on('request', (request) => urls.push(request.url()));
  page.on('response', (response: Response) => {
    const url = response.url();
    if (new URL(url).origin !== bffOrigin) return;
    pending.push(response.allHeaders().then((all) => headers.push({ url, text: JSON.stringify(all) })));
    const redirect = response.status() >= 300 && response.status() < 400;
    if (redirect || !TEXT_TYPES.test(response.headers()['content-type'] ?? '')) return;
    pending.push(
      response.text().then(
        (text) => bodies.push({ url, text }),
        () => unread.push(url),
      ),
    );
  });
  return {
    async settled() {
      await Promise.all(pending);
      return { bodies, headers, urls, unread };
    },
  };
}
