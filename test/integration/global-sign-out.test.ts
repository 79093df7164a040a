import { decodeJwt } from 'jose';
import { userKey } from '../../server/stores/user-slot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anotherAppEndSessionUrl, signInToAnotherApp } from '../support/another-app';
import { TestBrowser } from '../support/browser';
import { JWT_PATTERN, loadIframes, signOutAtIdp, startInspectableStack, withExpiredAccessTokens, type Stack } from '../support/stack';

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;

/** Two sessions of alice (two cookie jars, two IdP sessions) and one of bob. */
async function signInEveryone(stack: Stack) {
  const alice1 = stack.browser();
  const alice2 = stack.browser();
  const bob = stack.browser();
  await stack.signIn(alice1, 'alice');
  await stack.signIn(alice2, 'alice');
  await stack.signIn(bob, 'bob');
  const aliceId = (await alice1.api(`${stack.url}/api/me`)).json().sub as string;
  return { alice1, alice2, bob, aliceId };
}

async function sidOf(env: Inspectable, homeAccountId: string): Promise<string[]> {
  const sids: string[] = [];
  for (const key of env.keys('logout:sid:')) {
    if (JSON.parse(String(env.memory.get(key))).value === homeAccountId) sids.push(key.split(' ').pop()!);
  }
  return sids;
}

/** What a global sign-out of alice must leave behind, checked on every path. */
async function expectSignedOutEverywhere(env: Inspectable, aliceId: string, sessions: TestBrowser[], bob: TestBrowser) {
  const { stack } = env;
  for (const browser of sessions) {
    expect((await browser.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    const api = await browser.api(`${stack.url}/api/me`);
    expect(api.status).toBe(401);
  }
  expect(env.keys(`tokens:${userKey(aliceId)}`)).toEqual([]);
  const aliceSessions = env.keys('sessions:').filter((k) => String(env.memory.get(k)).includes(aliceId));
  expect(aliceSessions).toEqual([]);
  expect((await bob.api(`${stack.url}/api/me`)).json().preferred_username).toBe('bob');
}

describe('global sign-out, both channels on', () => {
  let env: Inspectable;
  beforeAll(async () => {
    env = await startInspectableStack();
  });
  afterAll(() => env?.stack.close());

  it('SPA-initiated: ends every session of alice and her token cache entry, and answers the end-session URL', async () => {
    const { stack } = env;
    const { alice1, alice2, bob, aliceId } = await signInEveryone(stack);
    const res = await alice1.api(`${stack.url}/auth/logout`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    // A same-origin, one-time URL: no token in the answer script reads.
    const endSessionUrl = res.json().endSessionUrl as string;
    expect(endSessionUrl.startsWith(`${stack.url}/auth/end-session?`)).toBe(true);
    expect(res.body).not.toMatch(JWT_PATTERN);
    // Following it, the BFF redirects to the IdP with the ID token as id_token_hint (RP-Initiated Logout §2).
    // From any other browser (a script that read the answer, sending it elsewhere) it carries no hint.
    const elsewhere = new URL((await new TestBrowser().get(endSessionUrl)).headers.location!);
    expect(elsewhere.searchParams.has('id_token_hint')).toBe(false);
    // A HEAD (a link checker, a prefetch) neither gets the hint nor uses the ticket up.
    const head = await alice1.request(endSessionUrl, { method: 'HEAD' });
    expect(new URL(head.headers.location!).searchParams.has('id_token_hint')).toBe(false);
    const redirect = await alice1.get(endSessionUrl);
    expect(redirect.status).toBe(302);
    const endSession = new URL(redirect.headers.location!);
    expect(`${endSession.origin}${endSession.pathname}`).toBe(`${stack.bff.idp.issuer}/session/end`);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.url}/`);
    expect(endSession.searchParams.get('state')).toMatch(/^[\w-]{16,}$/);
    expect(endSession.searchParams.get('client_id')).toBe(stack.bff.idp.clientId);
    const hint = decodeJwt(endSession.searchParams.get('id_token_hint')!);
    expect([hint.sub, hint.aud]).toEqual([aliceId, stack.bff.idp.clientId]);
    // Once only: the same URL again ends the IdP session without a hint.
    const again = new URL((await alice1.get(endSessionUrl)).headers.location!);
    expect(again.searchParams.has('id_token_hint')).toBe(false);
    expect(again.searchParams.get('client_id')).toBe(stack.bff.idp.clientId);
    await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);

    // The SPA navigates there; the IdP ends its session and comes back to the SPA, signed out.
    const atIdp = await signOutAtIdp(alice1, endSession.toString());
    expect(atIdp.next).toMatch(new RegExp(`^${stack.url}/\\?state=`));
    await loadIframes(atIdp.iframes);
    await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
  });

  it('SPA-initiated sign-out needs the anti-CSRF header and a POST: otherwise nothing changes', async () => {
    const { stack } = env;
    const alice = stack.browser();
    await stack.signIn(alice, 'alice');
    const before = new Map(env.memory);
    expect((await alice.post(`${stack.url}/auth/logout`)).status).toBe(403);
    expect((await alice.api(`${stack.url}/auth/logout`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect((await alice.api(`${stack.url}/auth/logout`, { method: 'GET' })).status).toBe(405);
    expect(new Map(env.memory)).toEqual(before);
    expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
    expect((await stack.browser().api(`${stack.url}/auth/logout`, { method: 'POST' })).status).toBe(401);
  });

  it('after the BFF session ended (idle), the SPA can still end the IdP session: /auth/end-session without a ticket', async () => {
    const { stack } = env;
    const alice = stack.browser();
    await stack.signIn(alice, 'alice');
    // The BFF session is gone (idled out); the IdP session is not.
    await alice.jar.removeAllCookies();
    await alice.jar.setCookie('bff.sid=gone', stack.url);
    expect((await alice.api(`${stack.url}/auth/logout`, { method: 'POST' })).status).toBe(401);

    const redirect = await alice.get(`${stack.url}/auth/end-session`);
    expect(redirect.status).toBe(302);
    const endSession = new URL(redirect.headers.location!);
    expect(`${endSession.origin}${endSession.pathname}`).toBe(`${stack.bff.idp.issuer}/session/end`);
    expect(endSession.searchParams.get('client_id')).toBe(stack.bff.idp.clientId);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.url}/`);
    expect(endSession.searchParams.has('id_token_hint')).toBe(false);
    // A forged or tampered ticket is the same as none.
    for (const t of ['x', 'AAAAAAAAAAAAAAAAAAAAAA.v1.a.b.c.d', `${'A'.repeat(22)}.${'x'.repeat(100)}`]) {
      expect(new URL((await alice.get(`${stack.url}/auth/end-session?t=${encodeURIComponent(t)}`)).headers.location!).searchParams.has('id_token_hint')).toBe(false);
    }
  });

  it('front-channel with sid alone (as Entra sends it) and no cookie ends every session of that user', async () => {
    const { stack } = env;
    const { alice1, alice2, bob, aliceId } = await signInEveryone(stack);
    const [sid] = await sidOf(env, aliceId);
    const [res] = await loadIframes([`${stack.url}/auth/frontchannel-logout?sid=${encodeURIComponent(sid!)}`]);
    expect(res!.status).toBe(200);
    expect(res!.headers['content-type']).toMatch(/text\/html/);
    expect(res!.headers['cache-control']).toBe('no-cache, no-store');
    expect(res!.headers.pragma).toBe('no-cache');
    expect(res!.headers['content-security-policy']).toContain(`frame-ancestors ${new URL(stack.bff.idp.issuer).origin}`);
    await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
  });

  it('front-channel with iss and sid and no cookie ends every session of that user', async () => {
    const { stack } = env;
    const { alice1, alice2, bob, aliceId } = await signInEveryone(stack);
    const [sid] = await sidOf(env, aliceId);
    const url = `${stack.url}/auth/frontchannel-logout?iss=${encodeURIComponent(stack.bff.idp.issuer)}&sid=${encodeURIComponent(sid!)}`;
    expect((await loadIframes([url]))[0]!.status).toBe(200);
    await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
  });

  it('front-channel with another issuer, or without sid, is a 400 that changes nothing', async () => {
    const { stack } = env;
    const alice = stack.browser();
    await stack.signIn(alice, 'alice');
    const aliceId = (await alice.api(`${stack.url}/api/me`)).json().sub as string;
    const [sid] = await sidOf(env, aliceId);
    const before = new Map(env.memory);
    const [wrongIss, noSid, issOnly] = await loadIframes([
      `${stack.url}/auth/frontchannel-logout?iss=${encodeURIComponent('https://evil.example')}&sid=${sid}`,
      `${stack.url}/auth/frontchannel-logout`,
      `${stack.url}/auth/frontchannel-logout?iss=${encodeURIComponent(stack.bff.idp.issuer)}`,
    ]);
    expect(wrongIss!.status).toBe(400);
    expect(wrongIss!.json().error).toBe('invalid_issuer');
    expect(noSid!.status).toBe(400);
    expect(issOnly!.status).toBe(400);
    expect(new Map(env.memory)).toEqual(before);
    expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
  });

  it('a front-channel logout for an unknown sid is a 200 that changes nothing but remembering, for a while, that the IdP ended that session', async () => {
    const { stack } = env;
    const alice = stack.browser();
    await stack.signIn(alice, 'alice');
    const before = new Map(env.memory);
    const [res] = await loadIframes([`${stack.url}/auth/frontchannel-logout?sid=no-such-session`]);
    expect(res!.status).toBe(200);
    // For a sign-in whose callback is under way with that sid (sign-out-races.test.ts).
    const ended = `logout:ended-sid:${stack.bff.idp.issuer} no-such-session`;
    const after = new Map(env.memory);
    expect([...after.keys()].filter((k) => !before.has(k))).toEqual([ended]);
    after.delete(ended);
    expect(after).toEqual(before);
    expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
  });

  it('the same front-channel logout twice: the second is a success that ends nothing newer', async () => {
    const { stack } = env;
    const first = stack.browser();
    await stack.signIn(first, 'alice');
    const aliceId = (await first.api(`${stack.url}/api/me`)).json().sub as string;
    const [sid] = await sidOf(env, aliceId);
    const url = `${stack.url}/auth/frontchannel-logout?sid=${encodeURIComponent(sid!)}`;
    expect((await loadIframes([url]))[0]!.status).toBe(200);

    const again = stack.browser();
    await stack.signIn(again, 'alice');
    expect((await loadIframes([url]))[0]!.status).toBe(200);
    expect((await again.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
    expect((await again.api(`${stack.url}/api/me`)).status).toBe(200);
  });

  it('sign-out at the IdP reaches the BFF by both channels; the second is a no-op', async () => {
    const { stack } = env;
    const { alice1, alice2, bob, aliceId } = await signInEveryone(stack);
    const atIdp = await signOutAtIdp(alice1, `${stack.bff.idp.issuer}/session/end`);
    // The back-channel call has already signed alice out before the IdP's page answered.
    await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
    expect(atIdp.iframes).toHaveLength(1);
    const [frame] = await loadIframes(atIdp.iframes);
    expect(frame!.status).toBe(200);
    await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
  });

  it('signing out of another app signs the user out of the BFF too', async () => {
    const { stack } = env;
    const { alice1, alice2, bob, aliceId } = await signInEveryone(stack);
    const { idToken } = await signInToAnotherApp(alice1, stack.bff.idp.issuer);
    const atIdp = await signOutAtIdp(alice1, anotherAppEndSessionUrl(stack.bff.idp.issuer, idToken));
    expect(atIdp.next).toBe('http://localhost:5174/');
    await loadIframes(atIdp.iframes);
    await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
  });
});

describe('each channel alone, driven by the real dev IdP', () => {
  it('back-channel only: the logout token the IdP sends ends every session of that user', async () => {
    const env = await startInspectableStack({ DEV_IDP_FRONTCHANNEL: '0' });
    try {
      const { alice1, alice2, bob, aliceId } = await signInEveryone(env.stack);
      const atIdp = await signOutAtIdp(alice2, `${env.stack.bff.idp.issuer}/session/end`);
      expect(atIdp.iframes).toEqual([]);
      await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
    } finally {
      await env.stack.close();
    }
  });

  it('front-channel only: the iframes of the IdP logout page, loaded with no cookie, end every session of that user', async () => {
    const env = await startInspectableStack({ DEV_IDP_BACKCHANNEL: '0' });
    try {
      const { alice1, alice2, bob, aliceId } = await signInEveryone(env.stack);
      const atIdp = await signOutAtIdp(alice2, `${env.stack.bff.idp.issuer}/session/end`);
      expect(atIdp.iframes).toHaveLength(1);
      // Nothing has reached the BFF yet: alice's other session still works until the iframe loads.
      expect((await alice1.api(`${env.stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
      await loadIframes(atIdp.iframes);
      await expectSignedOutEverywhere(env, aliceId, [alice1, alice2], bob);
    } finally {
      await env.stack.close();
    }
  });
});

describe('sign-out racing a silent token refresh', () => {
  it('leaves no tokens of the user in the store, however the two interleave (50 rounds)', async () => {
    const env = await startInspectableStack();
    const { stack } = env;
    try {
      let raced = 0;
      for (let round = 0; round < 50; round++) {
        const alice = stack.browser();
        await stack.signIn(alice, 'alice');
        const aliceId = (await alice.api(`${stack.url}/api/me`)).json().sub as string;
        const [sid] = await sidOf(env, aliceId);
        // Expire the access token, so the next API call refreshes it at the IdP.
        const key = `tokens:${userKey(aliceId)}`;
        env.setTokenCache(aliceId, withExpiredAccessTokens(env.tokenCacheOf(aliceId)!));

        const delay = round % 10;
        const [api] = await Promise.all([
          alice.api(`${stack.url}/api/me`),
          new Promise((r) => setTimeout(r, delay)).then(() => loadIframes([`${stack.url}/auth/frontchannel-logout?sid=${sid}`])),
        ]);
        if (api.status === 200) raced++;
        expect([200, 401]).toContain(api.status);
        expect(env.keys(key)).toEqual([]);
        expect((await alice.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
      }
      // Some rounds must really have had the refresh in flight during the sign-out.
      expect(raced).toBeGreaterThan(0);
    } finally {
      await stack.close();
    }
  });
});
