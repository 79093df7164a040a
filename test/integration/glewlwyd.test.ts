import http from 'node:http';
import { userKey } from '../../server/stores/user-slot';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renewalMarginSeconds } from '../../server/auth/cached-token';
import { createLogger } from '../../server/log';
import { createStores } from '../../server/stores';
import type { TestBrowser } from '../support/browser';
import {
  ANOTHER_APP,
  currentGlewlwydUser,
  endSessionUrlOf,
  glewlwydAvailable,
  glewlwydBrowser,
  glewlwydGrants,
  glewlwydLogin,
  registerClient,
  setLogoutChannels,
  signInAnotherApp,
  signInWithGlewlwyd,
  signInWithoutPassword,
  signOutAtGlewlwyd,
  startGlewlwydStack,
  type Glewlwyd,
  type GlewlwydOptions,
  type GlewlwydSignOut,
} from '../support/glewlwyd';
import { RawUpstream, type RecordedRequest } from '../support/raw-upstream';
import { JWT_PATTERN, loadIframes, withExpiredAccessTokens, type Stack, type TokenCacheJson } from '../support/stack';

const hasGlewlwyd = glewlwydAvailable();

/**
 * Issue 12, "What it must show": the BFF against an OpenID provider it was not written with,
 * Glewlwyd 2.7.5 (Debian's package), using Glewlwyd's tokens exactly as issued. The API is a raw
 * TCP server that records every request, so a test sees which access token each call carried
 * (Glewlwyd's tokens are not the sample API's). Every test gets its own Glewlwyd, BFF and API.
 */
interface Harness {
  glewlwyd: Glewlwyd;
  stack: Stack;
  upstream: RawUpstream;
  /** The BFF's in-memory stores, one Map (`tokens:<sub>`, `sessions:<id>`, `logout:…`). */
  memory: Map<string, unknown>;
  /** The BFF's log events (`auth.signout`, `backchannel.refused`, …). */
  events: Record<string, unknown>[];
  close(): Promise<void>;
}

async function startHarness(glewlwyd: Omit<GlewlwydOptions, 'bffOrigin'> = {}): Promise<Harness> {
  const upstream = await RawUpstream.start();
  const memory = new Map<string, unknown>();
  const events: Record<string, unknown>[] = [];
  try {
    const started = await startGlewlwydStack(
      { API_BASE_URL: upstream.url },
      {
        stores: createStores({}, { memory }),
        logger: createLogger((line) => events.push(JSON.parse(line))),
        // INFO: its log is where glewlwydGrants counts code and refresh grants.
        glewlwyd: { logLevel: 'INFO', ...glewlwyd },
      },
    );
    return {
      ...started,
      upstream,
      memory,
      events,
      close: async () => {
        await started.close();
        await upstream.close();
      },
    };
  } catch (err) {
    await upstream.close();
    throw err;
  }
}

const keys = (h: Harness, prefix: string) => [...h.memory.keys()].filter((k) => k.startsWith(prefix));

/** The `sessions:` values, unwrapped from Keyv's envelope. */
function storedSessions(h: Harness): { user?: { homeAccountId: string; username: string; sid?: string } }[] {
  return keys(h, 'sessions:').map((k) => JSON.parse(String(h.memory.get(k))).value);
}

/** A user's token cache entry as MSAL serialized it (unsealed). */
function tokenCacheOf(h: Harness, userId: string): TokenCacheJson {
  return JSON.parse(h.stack.bff.sealer.open(JSON.parse(String(h.memory.get(`tokens:${userKey(userId)}`))).value, userId));
}

function setTokenCache(h: Harness, userId: string, cache: TokenCacheJson) {
  const envelope = JSON.parse(String(h.memory.get(`tokens:${userKey(userId)}`)));
  h.memory.set(`tokens:${userKey(userId)}`, JSON.stringify({ ...envelope, value: h.stack.bff.sealer.seal(JSON.stringify(cache), userId) }));
}

/** Every token the BFF holds for the user: refresh, access and ID tokens. */
function secretsOf(h: Harness, userId: string): string[] {
  const cache = tokenCacheOf(h, userId);
  return [cache.RefreshToken, cache.AccessToken, cache.IdToken].flatMap((section) => Object.values(section).map((t) => t.secret));
}

/** The access tokens the API received, in arrival order ('' for a request without one). */
function bearerTokens(requests: RecordedRequest[]): string[] {
  return requests.map((r) => /^Bearer (\S+)$/.exec(r.headers.find(([n]) => n === 'authorization')?.[1] ?? '')?.[1] ?? '');
}

const sessionOf = async (h: Harness, browser: TestBrowser) => (await browser.api(`${h.stack.url}/auth/session`)).json();

const signOuts = (h: Harness) => h.events.filter((e) => e.event === 'auth.signout').map(({ path, sessionsEnded }) => ({ path, sessionsEnded }));

/**
 * Signs `username` in through Glewlwyd's login (password) in a fresh browser; their id at the BFF
 * is Glewlwyd's sub. `lateInASecond`: the password first, then the rest of the sign-in (code and
 * redemption) in the second half of a second (see untilSecondHalf).
 */
async function signIn(h: Harness, username: 'alice' | 'bob' = 'alice', { lateInASecond = false } = {}): Promise<{ browser: TestBrowser; userId: string; sid: string }> {
  const browser = glewlwydBrowser(h.glewlwyd);
  if (lateInASecond) {
    await glewlwydLogin(browser, h.glewlwyd.apiUrl, username);
    await untilSecondHalf();
    const { signedIn, hops } = await signInWithoutPassword(browser, h.stack.url, h.glewlwyd);
    expect(signedIn, JSON.stringify(hops, null, 1)).toBe(true);
  } else {
    const { callback, hops } = await signInWithGlewlwyd(browser, h.stack.url, h.glewlwyd, username);
    expect(callback?.status, JSON.stringify(hops, null, 1)).toBe(302);
  }
  const user = storedSessions(h).find((s) => s.user?.username === username)!.user!;
  return { browser, userId: user.homeAccountId, sid: user.sid! };
}

/**
 * After a global sign-out, what the store still holds of the user: it must be nothing. The
 * token entry and the sessions (README, "Global sign-out"), the sid entries that led to them,
 * and none of the user's tokens anywhere in any value.
 */
function heldOf(h: Harness, userId: string, sid: string, secrets: string[]) {
  return {
    tokenEntry: keys(h, `tokens:${userKey(userId)}`).length,
    sessions: storedSessions(h).filter((s) => s.user?.homeAccountId === userId).length,
    sidEntry: keys(h, `logout:sid:${h.glewlwyd.issuer} ${sid}`).length,
    valuesWithAToken: [...h.memory].filter(([, v]) => secrets.some((s) => String(v).includes(s))).map(([k]) => k),
  };
}
const NOTHING = { tokenEntry: 0, sessions: 0, sidEntry: 0, valuesWithAToken: [] };

/** Bob, signed in alongside: a sign-out of alice must leave him alone. */
async function expectBobStillSignedIn(h: Harness, bob: { browser: TestBrowser; userId: string }) {
  expect(await sessionOf(h, bob.browser)).toMatchObject({ isAuthenticated: true, user: { username: 'bob' } });
  expect(keys(h, `tokens:${userKey(bob.userId)}`)).toHaveLength(1);
  const mark = h.upstream.mark();
  expect((await bob.browser.api(`${h.stack.url}/api/bob`)).status).toBe(200);
  expect(decodeJwt(bearerTokens(h.upstream.since(mark).requests)[0]!).sub).toBe(bob.userId);
}

/** `count` API calls in a row from the SPA's origin: their statuses and the tokens the API got. */
async function apiCalls(h: Harness, browser: TestBrowser, count: number): Promise<{ statuses: number[]; tokens: string[] }> {
  const mark = h.upstream.mark();
  const statuses: number[] = [];
  for (let i = 1; i <= count; i++) statuses.push((await browser.api(`${h.stack.url}/api/things/${i}`)).status);
  return { statuses, tokens: bearerTokens(h.upstream.since(mark).requests) };
}

/**
 * Waits for the second half of a wall-clock second. MSAL files a token's cached_at as the request
 * time rounded to the nearest second (msal-common's nowSeconds), so a token obtained now reads as
 * cached in the next second; calls that follow within the same second must still use it.
 */
async function untilSecondHalf() {
  const ms = Date.now() % 1000;
  await new Promise((r) => setTimeout(r, ms < 550 ? 550 - ms : 1550 - ms));
}

/**
 * A loopback relay between Glewlwyd and the BFF's back-channel route, registered at Glewlwyd
 * in its place: it passes each request on byte for byte and records the logout token as
 * Glewlwyd sent it, and the BFF's answer.
 */
async function logoutTokenRelay(target: string): Promise<{ url: string; relayed: { logoutToken: string; status: number }[]; close(): Promise<void> }> {
  const relayed: { logoutToken: string; status: number }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      fetch(target, { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body, signal: AbortSignal.timeout(5000) })
        .then(async (answer) => {
          relayed.push({ logoutToken: new URLSearchParams(body.toString('utf8')).get('logout_token') ?? '', status: answer.status });
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' }).end(await answer.text());
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel-logout`,
    relayed,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(!hasGlewlwyd)('the BFF against Glewlwyd, with Glewlwyd\'s own unmodified tokens (issue 12)', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(() => h?.close());

  it('signs alice in with her password at Glewlwyd: a session with her claims, her Glewlwyd tokens held sealed under her sub, her sid recorded', async () => {
    const { browser, userId, sid } = await signIn(h);
    expect(await sessionOf(h, browser)).toMatchObject({ isAuthenticated: true, user: { name: 'Alice Example', username: 'alice', email: 'alice@example.test' } });

    const cache = tokenCacheOf(h, userId);
    const [accessToken] = Object.values(cache.AccessToken);
    expect(decodeJwt(accessToken!.secret)).toMatchObject({ iss: h.glewlwyd.issuer, sub: userId, client_id: 'bff', type: 'access_token', scope: expect.stringContaining('api') });
    expect(decodeJwt(Object.values(cache.IdToken)[0]!.secret)).toMatchObject({ iss: h.glewlwyd.issuer, aud: 'bff', sub: userId, sid });
    expect(Object.keys(cache.RefreshToken)).toHaveLength(1);
    expect(keys(h, `logout:sid:${h.glewlwyd.issuer} ${sid}`)).toHaveLength(1);
    // At rest every token is sealed; the browser got none of them on the way.
    expect([...h.memory.values()].map(String).join('\n')).not.toMatch(JWT_PATTERN);
    expect(browser.received.map((r) => `${JSON.stringify(r.headers)}\n${r.body}`).join('\n')).not.toMatch(JWT_PATTERN);
    expect(await glewlwydGrants(h.glewlwyd, 'bff', 'alice')).toEqual({ code: 1, refresh: 0 });
  });

  it('three API calls carry one and the same access token, the one Glewlwyd issued at sign-in (no refresh grant)', async () => {
    const { browser, userId } = await signIn(h, 'alice', { lateInASecond: true });
    const [issued] = Object.values(tokenCacheOf(h, userId).AccessToken).map((t) => t.secret);

    const { statuses, tokens } = await apiCalls(h, browser, 3);
    expect(statuses).toEqual([200, 200, 200]);
    const grants = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');
    expect({ distinctTokens: new Set(tokens).size, refreshGrants: grants.refresh }).toEqual({ distinctTokens: 1, refreshGrants: 0 });
    expect(tokens[0]).toBe(issued);
  });

  it('once the access token has expired, the next three API calls carry one new token from one refresh grant, and alice stays signed in', async () => {
    const { browser, userId } = await signIn(h);
    expect((await apiCalls(h, browser, 1)).statuses).toEqual([200]);
    const [old] = Object.values(tokenCacheOf(h, userId).AccessToken).map((t) => t.secret);
    // Time passing, as the cache sees it: the access token expired a minute ago.
    setTokenCache(h, userId, withExpiredAccessTokens(tokenCacheOf(h, userId)));
    const before = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');

    await untilSecondHalf();
    const { statuses, tokens } = await apiCalls(h, browser, 3);
    expect(statuses).toEqual([200, 200, 200]);
    const after = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');
    expect({ distinctTokens: new Set(tokens).size, refreshGrants: after.refresh - before.refresh }).toEqual({ distinctTokens: 1, refreshGrants: 1 });
    expect(tokens[0]).not.toBe(old);
    expect(decodeJwt(tokens[0]!)).toMatchObject({ iss: h.glewlwyd.issuer, sub: userId, client_id: 'bff' });
    // The new token replaced the old one in alice's entry, which still holds her refresh token.
    const cache = tokenCacheOf(h, userId);
    expect(Object.values(cache.AccessToken).map((t) => t.secret)).toEqual([tokens[0]]);
    expect(Object.keys(cache.RefreshToken)).toHaveLength(1);
    expect(await sessionOf(h, browser)).toMatchObject({ isAuthenticated: true });
    expect(signOuts(h)).toEqual([]);
  });

  it('three parallel API calls with an expired access token cause one refresh grant and all carry its token', async () => {
    const { browser, userId } = await signIn(h);
    setTokenCache(h, userId, withExpiredAccessTokens(tokenCacheOf(h, userId)));
    const before = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');
    const mark = h.upstream.mark();

    const statuses = await Promise.all([1, 2, 3].map(async (i) => (await browser.api(`${h.stack.url}/api/parallel/${i}`)).status));
    expect(statuses).toEqual([200, 200, 200]);
    const tokens = bearerTokens(h.upstream.since(mark).requests);
    const after = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');
    expect({ distinctTokens: new Set(tokens).size, refreshGrants: after.refresh - before.refresh }).toEqual({ distinctTokens: 1, refreshGrants: 1 });
    expect(await sessionOf(h, browser)).toMatchObject({ isAuthenticated: true });
  });

  it('signing out from the SPA ends the Glewlwyd session through end_session with the ID token as id_token_hint: signing in again asks for the password, and the BFF keeps no session or token of alice', async () => {
    const bob = await signIn(h, 'bob');
    const { browser, userId, sid } = await signIn(h);
    expect((await apiCalls(h, browser, 1)).statuses).toEqual([200]);
    // The control: right now Glewlwyd's session signs alice in again without a password (SSO).
    const sso = await signInWithoutPassword(browser, h.stack.url, h.glewlwyd);
    expect(sso.signedIn, JSON.stringify(sso.hops, null, 1)).toBe(true);
    const [idToken] = Object.values(tokenCacheOf(h, userId).IdToken).map((t) => t.secret);
    const secrets = secretsOf(h, userId);

    const logout = await browser.api(`${h.stack.url}/auth/logout`, { method: 'POST' });
    expect(logout.status).toBe(200);
    const { endSessionUrl } = logout.json();
    expect(endSessionUrl).toMatch(new RegExp(`^${escape(h.stack.url)}/auth/end-session\\?t=`));
    expect(logout.body).not.toMatch(JWT_PATTERN);
    // The BFF's part is done before the browser leaves for Glewlwyd.
    expect(await sessionOf(h, browser)).toEqual({ isAuthenticated: false });
    expect((await browser.api(`${h.stack.url}/api/after`)).status).toBe(401);
    expect(heldOf(h, userId, sid, secrets)).toEqual(NOTHING);
    expect(signOuts(h)).toEqual([{ path: 'spa', sessionsEnded: 2 }]);

    const redirect = await browser.get(endSessionUrl);
    expect(redirect.status).toBe(302);
    const toIdp = new URL(redirect.headers.location!);
    expect(`${toIdp.origin}${toIdp.pathname}`).toBe(`${h.glewlwyd.authority}/end_session`);
    expect(Object.fromEntries(toIdp.searchParams)).toEqual({
      id_token_hint: idToken,
      post_logout_redirect_uri: h.glewlwyd.registered.postLogoutRedirectUri,
      client_id: 'bff',
      state: expect.any(String),
    });

    // Glewlwyd's web app: confirm, front-channel iframes, delete the OIDC session (back-channel), end its own session.
    const atIdp = await signOutAtGlewlwyd(browser, toIdp.toString(), h.glewlwyd, { loadIframes });
    expect(atIdp.endSession.status, 'Glewlwyd accepted the id_token_hint').toBe(302);
    expect(atIdp.iframes).toEqual([expect.stringMatching(new RegExp(`^${escape(h.glewlwyd.registered.frontchannelLogoutUri)}\\?iss=.+&sid=${sid}$`))]);
    expect(atIdp.iframeResponses.map((r) => r.status)).toEqual([200]);
    expect([atIdp.sessionDelete?.status, atIdp.authDelete?.status]).toEqual([200, 200]);
    expect(atIdp.next).toBe(`${h.glewlwyd.registered.postLogoutRedirectUri}?state=${toIdp.searchParams.get('state')}`);

    // No single sign-on any more: Glewlwyd answers the sign-in with login.html, which asks for the password.
    expect(await currentGlewlwydUser(browser, h.glewlwyd)).toBeUndefined();
    const again = await signInWithoutPassword(browser, h.stack.url, h.glewlwyd);
    expect(again.signedIn).toBe(false);
    expect(new URL(again.hops.at(-1)!.location!).pathname).toBe('/login.html');
    // Glewlwyd's front- and back-channel calls that followed brought nothing back.
    expect(heldOf(h, userId, sid, secrets)).toEqual(NOTHING);
    expect(signOuts(h)).toEqual([{ path: 'spa', sessionsEnded: 2 }]);
    await expectBobStillSignedIn(h, bob);
    // The end-session URL worked once: followed again, it carries no hint.
    expect(new URL((await browser.get(endSessionUrl)).headers.location!).searchParams.has('id_token_hint')).toBe(false);

    // With the password, alice signs in again.
    const withPassword = await signInWithGlewlwyd(browser, h.stack.url, h.glewlwyd, 'alice');
    expect(withPassword.callback?.status).toBe(302);
    expect(await sessionOf(h, browser)).toMatchObject({ isAuthenticated: true, user: { username: 'alice' } });
  });

  /**
   * Another app of alice's Glewlwyd session (a second registered client, signed in from the same
   * browser without a password) signs out at Glewlwyd with its own ID token as id_token_hint, as
   * Glewlwyd's web app completes it. `channels` says which logout URIs the BFF's client has.
   */
  async function signOutInAnotherApp(channels: { frontchannel: boolean; backchannel: boolean }) {
    const bob = await signIn(h, 'bob');
    const { browser, userId, sid } = await signIn(h);
    await registerClient(h.glewlwyd, ANOTHER_APP);
    const other = await signInAnotherApp(browser, h.glewlwyd, ANOTHER_APP, 'alice');
    expect(other.askedForPassword, 'single sign-on into another app').toBe(false);
    expect(other.sid, 'one Glewlwyd session for both apps').toBe(sid);
    const relay = await logoutTokenRelay(h.glewlwyd.registered.backchannelLogoutUri);
    let atIdp: GlewlwydSignOut;
    let afterIframes: unknown;
    const secrets = secretsOf(h, userId);
    const logoutTokensBefore = keys(h, 'logout:jti:').length;
    try {
      await setLogoutChannels(h.glewlwyd, { ...channels, backchannelLogoutUri: relay.url });
      atIdp = await signOutAtGlewlwyd(browser, endSessionUrlOf(h.glewlwyd, ANOTHER_APP, other.idToken), h.glewlwyd, {
        // Before Glewlwyd deletes its OIDC session, which is when it posts the logout tokens.
        loadIframes: async (urls) => {
          const frames = await loadIframes(urls);
          afterIframes = await sessionOf(h, browser);
          return frames;
        },
      });
    } finally {
      await relay.close();
    }
    expect(atIdp.endSession.status, 'Glewlwyd accepted another app\'s id_token_hint').toBe(302);
    expect([atIdp.sessionDelete?.status, atIdp.authDelete?.status]).toEqual([200, 200]);
    expect(atIdp.next).toBe(`${ANOTHER_APP.postLogoutRedirectUri}?state=signed-out-in-another-app`);
    expect(await currentGlewlwydUser(browser, h.glewlwyd)).toBeUndefined();

    // Whichever channel ended it, the BFF session is over and nothing of alice is left.
    expect(await sessionOf(h, browser)).toEqual({ isAuthenticated: false });
    expect((await browser.api(`${h.stack.url}/api/after`)).status).toBe(401);
    expect(heldOf(h, userId, sid, secrets)).toEqual(NOTHING);
    await expectBobStillSignedIn(h, bob);
    return {
      atIdp,
      afterIframes,
      sid,
      /** Logout tokens the BFF accepted (each one's jti is recorded once it has been acted on). */
      logoutTokensAccepted: keys(h, 'logout:jti:').length - logoutTokensBefore,
      /** What Glewlwyd posted to the BFF's back-channel route, and the BFF's answers. */
      relayed: relay.relayed,
      refused: h.events.filter((e) => e.event === 'backchannel.refused'),
    };
  }

  /** Glewlwyd 2.7's logout token as it is: typ JWT, no exp (LOGOUT_TOKEN_EXP_OPTIONAL=1), sid and sub, the logout event. */
  function expectGlewlwydLogoutToken(token: string, sid: string) {
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'JWT', alg: 'RS256' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: h.glewlwyd.issuer, aud: 'bff', sid, sub: expect.any(String), jti: expect.any(String), events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    expect(claims).not.toHaveProperty('exp');
  }

  const frontchannelIframe = (sid: string) => new RegExp(`^${escape(h.glewlwyd.registered.frontchannelLogoutUri)}\\?iss=.+&sid=${sid}$`);

  it('a sign-out in another app of the same Glewlwyd session ends alice\'s BFF session by front-channel alone (back-channel off), and leaves no token of hers', async () => {
    const run = await signOutInAnotherApp({ frontchannel: true, backchannel: false });
    expect(run.atIdp.iframes).toEqual([expect.stringMatching(frontchannelIframe(run.sid))]);
    expect(run.atIdp.iframeResponses.map((r) => r.status)).toEqual([200]);
    expect(run.afterIframes).toEqual({ isAuthenticated: false });
    expect(signOuts(h)).toEqual([{ path: 'frontchannel', sessionsEnded: 1 }]);
    expect(run.relayed).toEqual([]);
    expect(run.logoutTokensAccepted).toBe(0);
  });

  it('a sign-out in another app of the same Glewlwyd session ends alice\'s BFF session by back-channel alone (front-channel off): Glewlwyd\'s logout token, typ JWT and no exp, is accepted as issued', async () => {
    const run = await signOutInAnotherApp({ frontchannel: false, backchannel: true });
    expect(run.atIdp.iframes).toEqual([]);
    // Nothing but the logout token ended it: the session outlived the front-channel step.
    expect(run.afterIframes).toMatchObject({ isAuthenticated: true, user: { username: 'alice' } });
    expect(signOuts(h)).toEqual([{ path: 'backchannel', sessionsEnded: 1 }]);
    expect(run.relayed.map((r) => r.status)).toEqual([200]);
    expectGlewlwydLogoutToken(run.relayed[0]!.logoutToken, run.sid);
    expect(run.logoutTokensAccepted).toBe(1);
    expect(run.refused).toEqual([]);
  });

  it('a sign-out in another app of the same Glewlwyd session with both channels on: the front-channel iframe ends alice\'s BFF session, and the logout token that follows is accepted and ends nothing more', async () => {
    const run = await signOutInAnotherApp({ frontchannel: true, backchannel: true });
    expect(run.atIdp.iframes).toEqual([expect.stringMatching(frontchannelIframe(run.sid))]);
    expect(run.afterIframes).toEqual({ isAuthenticated: false });
    expect(signOuts(h)).toEqual([{ path: 'frontchannel', sessionsEnded: 1 }]);
    expect(run.relayed.map((r) => r.status)).toEqual([200]);
    expectGlewlwydLogoutToken(run.relayed[0]!.logoutToken, run.sid);
    expect(run.logoutTokensAccepted).toBe(1);
    expect(run.refused).toEqual([]);
  });
});

/** Glewlwyd's access-token-duration, short enough to wait out. */
const SHORT_ACCESS_TOKEN_SECONDS = 15;

describe.skipIf(!hasGlewlwyd)(`the BFF against Glewlwyd issuing ${SHORT_ACCESS_TOKEN_SECONDS} s access tokens`, () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness({ accessTokenSeconds: SHORT_ACCESS_TOKEN_SECONDS });
  });
  afterEach(() => h?.close());

  it('three calls share the token from sign-in; once it is due for renewal, the next three share one new token from one refresh grant, with no sign-out', async () => {
    const { browser, userId } = await signIn(h, 'alice', { lateInASecond: true });
    const [issued] = Object.values(tokenCacheOf(h, userId).AccessToken);
    const first = await apiCalls(h, browser, 3);
    expect(first.statuses).toEqual([200, 200, 200]);
    const atSignIn = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');
    expect({ distinctTokens: new Set(first.tokens).size, refreshGrants: atSignIn.refresh }).toEqual({ distinctTokens: 1, refreshGrants: 0 });
    expect(first.tokens[0]).toBe(issued!.secret);

    // The BFF renews a token this short-lived once its last renewalMarginSeconds begin (cached-token.ts).
    const expiresOn = Number(issued!.expires_on);
    const dueAtMs = (expiresOn - renewalMarginSeconds(expiresOn - Number(issued!.cached_at))) * 1000;
    const waitMs = dueAtMs - Date.now() + 200;
    expect(waitMs).toBeLessThan(SHORT_ACCESS_TOKEN_SECONDS * 1000);
    await new Promise((r) => setTimeout(r, Math.max(0, waitMs)));
    const before = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');
    await untilSecondHalf();
    const next = await apiCalls(h, browser, 3);
    expect(next.statuses).toEqual([200, 200, 200]);
    const after = await glewlwydGrants(h.glewlwyd, 'bff', 'alice');
    expect({ distinctTokens: new Set(next.tokens).size, refreshGrants: after.refresh - before.refresh }).toEqual({ distinctTokens: 1, refreshGrants: 1 });
    expect(next.tokens[0]).not.toBe(issued!.secret);
    expect(decodeJwt(next.tokens[0]!).exp).toBeGreaterThan(decodeJwt(issued!.secret).exp!);
    expect(await sessionOf(h, browser)).toMatchObject({ isAuthenticated: true });
    expect(signOuts(h)).toEqual([]);
  }, 40_000);
});
