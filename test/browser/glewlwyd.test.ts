import { userOfKey } from '../support/keys';
import { userKey } from '../../server/stores/user-slot';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { buildClientIfNeeded } from '../../server/client-build';
import type { SessionInfo } from '../../shared/api';
import { createStores } from '../../server/stores';
import { launchChromium, skipBrowserTests } from '../support/chromium';
import { glewlwydAvailable, startGlewlwydStack, type Glewlwyd } from '../support/glewlwyd';
import { RawUpstream, type RecordedRequest } from '../support/raw-upstream';
import type { Stack } from '../support/stack';
import { RecordingMemory, TokenWatch } from './support/no-tokens';
import { apiStatusFrom, cameBackTo, headerSignIn, watchedPage } from './support/pages';

const TODO = 'Answered by the raw API with Glewlwyd\'s token';
/** The `scope` claim of the access tokens Glewlwyd issues the BFF, which the profile card shows. */
const GLEWLWYD_SCOPE = 'email api openid profile offline_access';

/**
 * What the raw API answers the SPA: /me gives back the claims of the access token it received
 * (so the page shows what Glewlwyd put in it), /todos one item. Glewlwyd's tokens are not the
 * sample API's, which would refuse them.
 */
function answerTheSpa(req: RecordedRequest) {
  const token = /^Bearer ([\w-]+\.([\w-]+)\.[\w-]+)$/.exec(req.headers.find(([n]) => n === 'authorization')?.[1] ?? '');
  if (!token) return { status: 401, headers: [['Content-Type', 'application/json']] as [string, string][], body: '{"error":"no token"}' };
  const claims = JSON.parse(Buffer.from(token[2]!, 'base64url').toString('utf8'));
  const body = req.target === '/me' ? { sub: claims.sub, scope: claims.scope } : { todos: [{ id: 1, title: TODO, done: false }] };
  return { status: 200, headers: [['Content-Type', 'application/json']] as [string, string][], body: JSON.stringify(body) };
}

/** Issue 12 in a real browser: the SPA, the BFF and Glewlwyd's own web app (login.html), its tokens as issued. */
describe.skipIf(skipBrowserTests() || !glewlwydAvailable())('the SPA signing in and out through Glewlwyd, in Chromium', () => {
  let browser: Browser;
  let upstream: RawUpstream;
  let glewlwyd: Glewlwyd;
  let stack: Stack;
  let close: () => Promise<void>;
  let memory: RecordingMemory;
  let tokens: TokenWatch;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    // The BFF serves dist/client: build it when it is missing or older than the sources.
    buildClientIfNeeded();
    browser = await launchChromium();
  });
  afterAll(() => browser?.close());

  beforeEach(async () => {
    upstream = await RawUpstream.start();
    upstream.respond = answerTheSpa;
    memory = new RecordingMemory();
    ({ glewlwyd, stack, close } = await startGlewlwydStack({ API_BASE_URL: upstream.url }, { stores: createStores({}, { memory }) }));
    tokens = new TokenWatch(stack, memory);
    ({ context, page, errors } = await watchedPage(browser, tokens, stack.url));
  });

  afterEach(async () => {
    await context?.close();
    await close?.();
    await upstream?.close();
  });

  /** Glewlwyd's login.html: its password form, then "Continue" to the BFF. */
  async function signInAtGlewlwyd() {
    await page.waitForURL((url) => url.origin === glewlwyd.url && url.pathname === '/login.html');
    await page.getByLabel('Login').fill('alice');
    await page.getByLabel('Password').fill('password');
    await page.getByRole('button', { name: 'OK' }).click();
    await page.getByText('Hello Alice Example').waitFor();
    await page.getByRole('button', { name: 'Continue' }).click();
    await cameBackTo(page, stack.url, 'after signing in at Glewlwyd');
  }

  async function signIn() {
    await page.goto(stack.url);
    await headerSignIn(page).click();
    await signInAtGlewlwyd();
    await page.getByRole('banner').getByText('Alice Example').waitFor();
    // The page's own API calls are in: nothing else talks to the BFF until the test does.
    await page.getByRole('region', { name: 'Todos' }).getByRole('listitem').filter({ hasText: TODO }).waitFor();
    await page.getByRole('region', { name: 'Profile' }).getByText(GLEWLWYD_SCOPE).waitFor();
  }

  const sessionKeysOf = (userId: string) => [...memory].filter(([k, v]) => k.startsWith('sessions:') && JSON.parse(String(v)).value.user?.homeAccountId === userId).map(([k]) => k);

  test('signing in at Glewlwyd\'s login page shows alice, the SPA\'s API calls reach the API with Glewlwyd\'s access token, and no token reaches the browser', async () => {
    await signIn();
    expect(page.url()).toBe(`${stack.url}/`);

    const calls = upstream.requests.map((r) => ({ target: r.target, authorization: r.headers.find(([n]) => n === 'authorization')?.[1] }));
    expect(calls.map((c) => c.target).sort()).toEqual(['/me', '/todos']);
    for (const { authorization } of calls) {
      const claims = JSON.parse(Buffer.from(authorization!.split('.')[1]!, 'base64url').toString('utf8'));
      expect(claims).toMatchObject({ iss: glewlwyd.issuer, client_id: 'bff', type: 'access_token' });
    }
    await tokens.snapshotStorage(page, 'signed in');

    const found = await tokens.verify({ everyUrl: true });
    expect(found.refreshTokens, 'the BFF held a refresh token to look for').toBeGreaterThan(0);
    expect(found.unread).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);

  test('signing out from the SPA ends the Glewlwyd session too (its end-session page, then back signed out): signing in again asks for the password', async () => {
    await signIn();
    const [userId] = [...memory.keys()].filter((k) => k.startsWith('tokens:')).map((k) => userOfKey(k));
    expect(sessionKeysOf(userId!)).toHaveLength(1);
    const frontchannel: number[] = [];
    page.on('response', (r) => {
      if (r.url().startsWith(glewlwyd.registered.frontchannelLogoutUri)) frontchannel.push(r.status());
    });

    await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
    // The BFF's redirect carried the ID token as id_token_hint: Glewlwyd asks to end the session.
    await page.waitForURL((url) => url.origin === glewlwyd.url && url.searchParams.get('prompt') === 'end_session');
    await page.getByText('The client BFF (tests) wishes you to close the current session').waitFor();
    await page.getByRole('button', { name: 'Logout' }).click();

    await cameBackTo(page, stack.url, 'after ending the session at Glewlwyd');
    await page.getByRole('heading', { name: 'You have signed out' }).waitFor();
    await headerSignIn(page).waitFor();
    expect(page.url()).toBe(`${stack.url}/`);
    await tokens.snapshotStorage(page, 'signed out');
    expect((await (await context.request.get(`${stack.url}/auth/session`)).json()) as SessionInfo).toEqual({ isAuthenticated: false });
    expect(await apiStatusFrom(page, '/api/me')).toBe(401);
    // Glewlwyd's page loaded the BFF's front-channel iframe (alice was already signed out: a no-op).
    expect(frontchannel).toEqual([200]);
    expect(memory.has(`tokens:${userKey(userId)}`)).toBe(false);
    expect(sessionKeysOf(userId!)).toEqual([]);

    // Glewlwyd forgot alice too: signing in again shows its password form, not "Hello Alice Example".
    await page.getByRole('main').getByRole('button', { name: 'Sign in again' }).click();
    await page.waitForURL((url) => url.origin === glewlwyd.url && url.pathname === '/login.html');
    await page.getByLabel('Password').waitFor();
    expect(await page.getByLabel('Password').inputValue()).toBe('');
    expect(await page.getByText('Hello Alice Example').count()).toBe(0);

    const found = await tokens.verify({ everyUrl: true });
    expect(found.refreshTokens).toBeGreaterThan(0);
    expect(found.unread).toEqual([]);
    expect(errors).toEqual([]);
  }, 60_000);
});
