import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userOfKey } from '../support/keys';
import { userKey } from '../../server/stores/user-slot';
import { createStores } from '../../server/stores';
import { glewlwydAvailable, glewlwydBrowser, signInWithGlewlwyd, signOutAtGlewlwyd, startGlewlwydStack, type Glewlwyd } from '../support/glewlwyd';
import { JWT_PATTERN, loadIframes, type Stack, type TokenCacheJson } from '../support/stack';
import type { TestBrowser } from '../support/browser';

const hasGlewlwyd = glewlwydAvailable();

/**
 * The BFF against an OpenID provider it was not written with: Glewlwyd 2.7.5 (Debian's package),
 * on loopback with its own CA, configured through its admin API (test/support/glewlwyd.ts).
 */
describe.skipIf(!hasGlewlwyd)('Glewlwyd as the identity provider (smoke)', () => {
  let glewlwyd: Glewlwyd;
  let stack: Stack;
  let close: () => Promise<void>;
  const memory = new Map<string, unknown>();
  const keys = (prefix: string) => [...memory.keys()].filter((k) => k.startsWith(prefix));
  const tokenCacheOf = (userId: string): TokenCacheJson => JSON.parse(stack.bff.sealer.open(JSON.parse(String(memory.get(`tokens:${userKey(userId)}`))).value, userId));

  beforeAll(async () => {
    ({ glewlwyd, stack, close } = await startGlewlwydStack({}, { stores: createStores({}, { memory }) }));
  });
  afterAll(() => close?.());

  /** Signs alice in and returns her browser and her user id at the BFF (Glewlwyd's sub). */
  async function signInAlice(): Promise<{ browser: TestBrowser; userId: string }> {
    const browser = glewlwydBrowser(glewlwyd);
    const { callback, hops } = await signInWithGlewlwyd(browser, stack.url, glewlwyd, 'alice');
    expect(callback?.status, JSON.stringify(hops, null, 1)).toBe(302);
    // Only alice signs in here: one token cache entry, keyed by her sub.
    const [entry] = keys('tokens:');
    return { browser, userId: userOfKey(entry!) };
  }

  it('reads Glewlwyd\'s discovery document at start-up (issuer, end-session and JWKS endpoints)', () => {
    expect(glewlwyd.authority).toBe(`${glewlwyd.url}/api/oidc`);
    expect(stack.bff.idp).toMatchObject({
      kind: 'oidc',
      issuer: glewlwyd.issuer,
      authority: glewlwyd.authority,
      endSessionEndpoint: `${glewlwyd.authority}/end_session`,
      jwksUri: `${glewlwyd.authority}/jwks`,
      origin: glewlwyd.url,
    });
  });

  it('sends /auth/login to Glewlwyd\'s authorization endpoint with the code flow and PKCE (S256)', async () => {
    const res = await glewlwydBrowser(glewlwyd).get(`${stack.url}/auth/login`);
    expect(res.status).toBe(302);
    const to = new URL(res.headers.location!);
    expect(`${to.origin}${to.pathname}`).toBe(`${glewlwyd.authority}/auth`);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({
      client_id: glewlwyd.clientId,
      response_type: 'code',
      redirect_uri: glewlwyd.registered.redirectUri,
      code_challenge_method: 'S256',
    });
    expect(to.searchParams.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['openid', 'offline_access', 'api']));
  });

  it('signs alice in through Glewlwyd and back to the callback, which opens a session with her display claims', async () => {
    const browser = glewlwydBrowser(glewlwyd);
    const { callback, hops } = await signInWithGlewlwyd(browser, stack.url, glewlwyd, 'alice', { returnTo: '/todos?filter=open' });
    expect(callback?.status, JSON.stringify(hops, null, 1)).toBe(302);
    expect(callback!.headers.location).toBe(`${stack.url}/todos?filter=open`);

    const session = await browser.api(`${stack.url}/auth/session`);
    expect(session.status).toBe(200);
    expect(session.json()).toMatchObject({ isAuthenticated: true, user: { name: 'Alice Example', username: 'alice', email: 'alice@example.test' } });
    // Glewlwyd's own answers on the way carry no token either: only the code goes through the browser.
    expect(browser.received.map((r) => r.body).join('\n')).not.toMatch(JWT_PATTERN);
  });

  it('keeps the refresh token (offline_access) and the ID token\'s sid, the key of front-channel logout', async () => {
    const { userId } = await signInAlice();
    const cache = tokenCacheOf(userId);
    expect(Object.keys(cache.RefreshToken)).toHaveLength(1);
    const [idToken] = Object.values(cache.IdToken);
    const claims = JSON.parse(Buffer.from(idToken!.secret.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ iss: glewlwyd.issuer, aud: glewlwyd.clientId, sub: userId, preferred_username: 'alice', sid: expect.any(String) });
    expect(keys(`logout:sid:${glewlwyd.issuer} ${claims.sid}`)).toHaveLength(1);
  });

  it('ends the BFF session when alice signs out at Glewlwyd: front-channel iframe (iss + sid, no cookie)', async () => {
    const { browser, userId } = await signInAlice();
    expect((await browser.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
    const endSession = endSessionWithHint(userId);
    let afterIframes: unknown;
    const atIdp = await signOutAtGlewlwyd(browser, endSession, glewlwyd, {
      // Before Glewlwyd deletes its session (and posts the logout tokens): the iframe alone.
      loadIframes: async (urls) => {
        const frames = await loadIframes(urls);
        afterIframes = (await browser.api(`${stack.url}/auth/session`)).json();
        return frames;
      },
    });
    expect(atIdp.endSession.status).toBe(302);
    expect(atIdp.iframes).toEqual([expect.stringMatching(new RegExp(`^${escape(glewlwyd.registered.frontchannelLogoutUri)}\\?iss=.+&sid=.+`))]);
    expect(atIdp.iframeResponses.map((r) => r.status)).toEqual([200]);
    expect(afterIframes).toEqual({ isAuthenticated: false });
    expect(atIdp.next).toMatch(new RegExp(`^${escape(glewlwyd.registered.postLogoutRedirectUri)}\\?state=`));
  });

  it('ends the BFF session when alice signs out at Glewlwyd: back-channel logout token (typ JWT, no exp)', async () => {
    const { browser, userId } = await signInAlice();
    expect((await browser.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
    const jtisBefore = keys('logout:jti:').length;
    const atIdp = await signOutAtGlewlwyd(browser, endSessionWithHint(userId), glewlwyd);
    expect(atIdp.sessionDelete?.status).toBe(200);
    expect((await browser.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    // The BFF recorded the logout token's jti: the session ended by back-channel, not otherwise.
    expect(keys('logout:jti:').length).toBe(jtisBefore + 1);
    expect(keys(`tokens:${userKey(userId)}`)).toHaveLength(0);
  });

  /** An end-session URL as another app of alice's Glewlwyd session would build it: her ID token as the hint. */
  function endSessionWithHint(userId: string): string {
    const [idToken] = Object.values(tokenCacheOf(userId).IdToken);
    const url = new URL(`${glewlwyd.authority}/end_session`);
    url.searchParams.set('id_token_hint', idToken!.secret);
    url.searchParams.set('post_logout_redirect_uri', glewlwyd.registered.postLogoutRedirectUri);
    url.searchParams.set('state', 'signed-out-elsewhere');
    return url.toString();
  }
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
