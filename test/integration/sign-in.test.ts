import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_BFF_CLIENT_SECRET } from '../../server/dev-idp';
import { RawUpstream } from '../support/raw-upstream';
import { everythingReceived, JWT_PATTERN, startInspectableStack, startStack, withExpiredAccessTokens, type Stack, type TokenCacheJson } from '../support/stack';

describe('sign-in through MSAL against the real dev IdP', () => {
  let stack: Stack;
  let keys: (prefix?: string) => string[];
  let memory: Map<string, unknown>;
  let tokenCacheOf: (userId: string) => TokenCacheJson | undefined;
  let setTokenCache: (userId: string, cache: TokenCacheJson) => void;

  beforeAll(async () => {
    ({ stack, keys, memory, tokenCacheOf, setTokenCache } = await startInspectableStack({}, process.env.TEST_LOG ? { logger: (await import("../../server/log")).createLogger() } : {}));
  });
  afterAll(() => stack?.close());

  it('signs alice in, shows her display claims, and never sends the browser a token', async () => {
    const browser = stack.browser();
    const callback = await stack.signIn(browser, 'alice', '/todos?filter=open');
    expect(callback.status).toBe(302);
    expect(callback.headers.location).toBe(`${stack.url}/todos?filter=open`);

    const session = await browser.api(`${stack.url}/auth/session`);
    expect(session.status).toBe(200);
    expect(session.headers['cache-control']).toBe('no-store');
    const body = session.json();
    expect(body).toMatchObject({ isAuthenticated: true, user: { name: 'Alice Example', username: 'alice', email: 'alice@example.test' } });
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());

    const me = await browser.api(`${stack.url}/api/me`);
    expect(me.status).toBe(200);
    expect(me.json()).toMatchObject({ preferred_username: 'alice', name: 'Alice Example', aud: 'api://sample-api' });

    const received = everythingReceived(browser);
    expect(received).not.toMatch(JWT_PATTERN);
    expect(received).not.toContain(DEV_BFF_CLIENT_SECRET);
  });

  it('regenerates the session id at sign-in and keeps the cookie HttpOnly and SameSite=Lax', async () => {
    const browser = stack.browser();
    const first = await stack.signIn(browser, 'alice');
    const firstId = await browser.cookie(stack.url, 'bff.sid');
    expect(firstId).toBeTruthy();
    const sessionCookie = (first.headers['set-cookie'] ?? []).find((c) => c.startsWith('bff.sid='));
    expect(sessionCookie).toMatch(/httponly/i);
    expect(sessionCookie).toMatch(/samesite=lax/i);

    // Signing in again in the same browser: a new id, and the previous session is gone.
    await stack.signIn(browser, 'alice');
    const secondId = await browser.cookie(stack.url, 'bff.sid');
    expect(secondId).toBeTruthy();
    expect(secondId).not.toBe(firstId);
    // The user's slot tag (user-slot.ts), then 256 random bits, base64url
    const [, tag, random] = /^(\{[\w-]{11}\})([\w-]{43})$/.exec(secondId!) ?? [];
    expect(Buffer.from(random!, 'base64url').length).toBe(32);
    expect(tag).toBe(firstId!.slice(0, 13));
    expect(keys(`sessions:${firstId}`)).toHaveLength(0);
    expect(keys(`sessions:${secondId}`)).toHaveLength(1);
  });

  it('keeps no token in the session store, and only sealed tokens in the per-user token cache entry', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    const aliceId = (await browser.api(`${stack.url}/api/me`)).json().sub as string;
    const sessionEntries = keys('sessions:').map((k) => String(memory.get(k)));
    for (const entry of sessionEntries) expect(entry).not.toMatch(JWT_PATTERN);
    const cache = tokenCacheOf(aliceId)!;
    const refreshToken = Object.values(cache.RefreshToken)[0]!.secret;
    expect(Object.values(cache.AccessToken)[0]!.secret).toMatch(JWT_PATTERN);
    // At rest, nothing of it is readable.
    for (const key of keys()) {
      expect(String(memory.get(key))).not.toMatch(JWT_PATTERN);
      expect(String(memory.get(key))).not.toContain(refreshToken);
    }
  });

  it('keeps two users signed in at once in separate token cache entries', async () => {
    const alice = stack.browser();
    const bob = stack.browser();
    await stack.signIn(alice, 'alice');
    await stack.signIn(bob, 'bob');
    const [aliceMe, bobMe] = await Promise.all([alice.api(`${stack.url}/api/me`), bob.api(`${stack.url}/api/me`)]);
    expect(aliceMe.json().preferred_username).toBe('alice');
    expect(bobMe.json().preferred_username).toBe('bob');

    const aliceId = aliceMe.json().sub as string;
    const bobId = bobMe.json().sub as string;
    const aliceEntry = tokenCacheOf(aliceId)!;
    const bobEntry = tokenCacheOf(bobId)!;
    const homes = (entry: { Account: Record<string, { home_account_id: string }> }) => Object.values(entry.Account).map((a) => a.home_account_id);
    expect(homes(aliceEntry)).toEqual([aliceId]);
    expect(homes(bobEntry)).toEqual([bobId]);
    expect(JSON.stringify(aliceEntry)).not.toContain(bobId);
    expect(JSON.stringify(bobEntry)).not.toContain(aliceId);
  });

  it('refreshes an expired access token silently with the refresh token', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'bob');
    const sub = (await browser.api(`${stack.url}/api/me`)).json().sub as string;
    const before = Object.values(tokenCacheOf(sub)!.AccessToken)[0]!;
    setTokenCache(sub, withExpiredAccessTokens(tokenCacheOf(sub)!));

    const me = await browser.api(`${stack.url}/api/me`);
    expect(me.status).toBe(200);
    const refreshed = Object.values(tokenCacheOf(sub)!.AccessToken)[0]!;
    expect(refreshed.secret).not.toBe(before.secret);
    expect(Number(refreshed.expires_on)).toBeGreaterThan(Date.now() / 1000);
  });
});

describe('short-lived access tokens', () => {
  it('with 120 s access tokens (Keycloak-like), six API calls in three seconds carry one token: no refresh per call', async () => {
    const upstream = await RawUpstream.start();
    const stack = await startStack({ DEV_IDP_ACCESS_TOKEN_TTL: '120', API_BASE_URL: upstream.url });
    try {
      const alice = stack.browser();
      await stack.signIn(alice, 'alice');
      for (let i = 0; i < 6; i++) {
        expect((await alice.api(`${stack.url}/api/me`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 500));
      }
      const tokens = new Set(upstream.requests.map((r) => r.headers.find(([n]) => n === 'authorization')?.[1]));
      expect(tokens.size).toBe(1);
    } finally {
      await stack.close();
      await upstream.close();
    }
  });
});
