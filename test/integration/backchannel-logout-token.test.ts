import { randomUUID } from 'node:crypto';
import { userKey } from '../../server/stores/user-slot';
import { generateKeyPair, importJWK, SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestBrowser, Response } from '../support/browser';
import { createLogger } from '../../server/log';
import { startInspectableStack, type Stack } from '../support/stack';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/**
 * OIDC Back-Channel Logout 1.0, section 2.6 (validation) and 2.8 (response), over real HTTP
 * against the real dev IdP's signing key: every rule a logout_token must satisfy has a token
 * that breaks it, is refused with a JSON problem, and changes nothing in any store.
 */
describe('back-channel logout: logout_token validation (section 2.6)', () => {
  let stack: Stack;
  let memory: Map<string, unknown>;
  let keys: (prefix?: string) => string[];
  let idpKey: CryptoKey | Uint8Array;
  let kid: string;
  let alice: SignedIn;
  let bob: SignedIn;

  interface SignedIn {
    browser: TestBrowser;
    sub: string;
    sid: string;
    sessionId: string;
  }

  const lines: string[] = [];

  beforeAll(async () => {
    ({ stack, memory, keys } = await startInspectableStack({}, { logger: createLogger((line) => void lines.push(line)) }));
    const signingKey = stack.bff.devIdp!.signingKey;
    kid = signingKey.kid!;
    idpKey = await importJWK(signingKey, 'RS256');
    alice = await signIn('alice');
    bob = await signIn('bob');
  });
  afterAll(() => stack?.close());

  /** A Keyv entry in the in-memory store: `{ value, expires }`, serialized. */
  const stored = (key: string): unknown => JSON.parse(String(memory.get(key))).value;
  const sidPrefix = () => `logout:sid:${stack.bff.idp.issuer} `;
  const snapshot = () => Object.fromEntries(memory);

  /** Signs a user in with a fresh browser; finds the new session's id and the IdP sid it recorded. */
  async function signIn(username: string): Promise<SignedIn> {
    const sidKeysBefore = new Set(keys(sidPrefix()));
    const browser = stack.browser();
    await stack.signIn(browser, username);
    const me = await browser.api(`${stack.url}/api/me`);
    expect(me.status).toBe(200);
    const sub = me.json().sub as string;
    const sidKey = keys(sidPrefix()).find((k) => !sidKeysBefore.has(k) && stored(k) === sub);
    expect(sidKey, `no logout:sid: entry naming ${username}`).toBeDefined();
    const sessionId = await browser.cookie(stack.url, 'bff.sid');
    expect(sessionId).toBeTruthy();
    return { browser, sub, sid: sidKey!.slice(sidPrefix().length), sessionId: sessionId! };
  }

  const now = () => Math.floor(Date.now() / 1000);

  /** Claims of a valid logout token for alice's session; `undefined` in `overrides` drops a claim. */
  function claims(overrides: Record<string, unknown> = {}): JWTPayload {
    const base: Record<string, unknown> = {
      iss: stack.bff.idp.issuer,
      aud: stack.bff.idp.clientId,
      iat: now(),
      exp: now() + 120,
      jti: randomUUID(),
      sid: alice.sid,
      events: { [EVENT]: {} },
    };
    const merged = { ...base, ...overrides };
    return Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined));
  }

  /** Signs as the dev IdP does unless told otherwise; `undefined` in `header` drops a parameter. */
  async function sign(payload: JWTPayload, header: Partial<Record<keyof JWTHeaderParameters, unknown>> = {}, key: CryptoKey | Uint8Array = idpKey) {
    const merged = { alg: 'RS256', kid, typ: 'logout+jwt', ...header };
    const protectedHeader = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as JWTHeaderParameters;
    return new SignJWT(payload).setProtectedHeader(protectedHeader).sign(key);
  }

  const post = (body: string, headers: Record<string, string> = FORM) =>
    stack.browser().post(`${stack.url}/auth/backchannel-logout`, { body, headers });
  const postToken = (token: string) => post(new URLSearchParams({ logout_token: token }).toString());

  const expectProblem = (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    const body = res.json();
    expect(body.error).toBe(code);
    expect(typeof body.message).toBe('string');
    // Section 2.8 asks this of every response, refusals too; soft, so the checks after it still run.
    expect.soft(res.headers['cache-control']).toBe('no-cache, no-store');
  };

  const expectSuccess = (res: Response) => {
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-cache, no-store');
    expect(res.headers.pragma).toBe('no-cache');
  };

  const expectSignedIn = async (user: SignedIn) => {
    expect((await user.browser.api(`${stack.url}/auth/session`)).json()).toMatchObject({ isAuthenticated: true });
    expect((await user.browser.api(`${stack.url}/api/me`)).status).toBe(200);
  };

  const expectSignedOut = async (user: SignedIn) => {
    expect((await user.browser.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    expect((await user.browser.api(`${stack.url}/api/me`)).status).toBe(401);
    expect(memory.has(`sessions:${user.sessionId}`)).toBe(false);
  };

  /** Nothing of the user is left in the stores but the tombstone: no tokens, sessions, sid or sessions list. */
  const expectNothingLeftOf = (sub: string) => {
    expect(memory.has(`tokens:${userKey(sub)}`)).toBe(false);
    expect(memory.has(`logout:sessions:${userKey(sub)}`)).toBe(false);
    expect(keys(sidPrefix()).filter((k) => stored(k) === sub)).toEqual([]);
    const sessionsOfUser = keys('sessions:').filter((k) => (stored(k) as { user?: { homeAccountId?: string } })?.user?.homeAccountId === sub);
    expect(sessionsOfUser).toEqual([]);
  };

  /** POSTs a request that must be refused: the problem, then no store entry changed and alice is still in. */
  async function expectRefusedAndNothingChanged(send: () => Promise<Response>, status = 400, code = 'invalid_logout_token') {
    const before = snapshot();
    const res = await send();
    expectProblem(res, status, code);
    expect(snapshot()).toEqual(before);
    await expectSignedIn(alice);
  }

  describe('tokens that break a rule are 400 invalid_logout_token and change nothing', () => {
    it('a token signed by another key under the IdP kid is refused (signature)', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims(), {}, privateKey)));
    });

    it('a token signed by another key under an unknown kid is refused (unknown kid, even after a JWKS refetch)', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims(), { kid: 'not-a-kid-of-the-idp' }, privateKey)));
    });

    it('an unsigned token (alg none) is refused', async () => {
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const unsigned = `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64(claims())}.`;
      await expectRefusedAndNothingChanged(() => postToken(unsigned));
    });

    it('a token MACed with HS256 is refused (only the IdP asymmetric algorithms)', async () => {
      const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!');
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims(), { alg: 'HS256' }, secret)));
    });

    it('a token from another issuer is refused (iss)', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ iss: 'https://evil.example' }))));
    });

    it('a token for another client is refused (aud)', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ aud: 'another-client' }))));
    });

    it('a token without events is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ events: undefined }))));
    });

    it('a token whose events lack the back-channel logout member is refused', async () => {
      await expectRefusedAndNothingChanged(async () =>
        postToken(await sign(claims({ events: { 'http://schemas.openid.net/event/something-else': {} } }))),
      );
    });

    it('a token whose events is a string is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ events: EVENT }))));
    });

    it('a token whose events is an array is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ events: [EVENT] }))));
    });

    it('a token whose back-channel logout event value is not an object is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ events: { [EVENT]: true } }))));
    });

    it('a token with a nonce is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ nonce: 'n-0S6_WzA2Mj' }))));
    });

    it('a token naming neither sub nor sid is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ sid: undefined, sub: undefined }))));
    });

    it('an expired token is refused (exp in the past)', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ iat: now() - 200, exp: now() - 100 }))));
    });

    it('a token issued in the future beyond the clock skew is refused (iat +600 s)', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ iat: now() + 600, exp: now() + 720 }))));
    });

    it('a token issued too long ago is refused even if not expired (iat -400 s, over 300 s plus skew)', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ iat: now() - 400, exp: now() + 120 }))));
    });

    it('a token without exp is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ exp: undefined }))));
    });

    it('a token without jti is refused', async () => {
      await expectRefusedAndNothingChanged(async () => postToken(await sign(claims({ jti: undefined }))));
    });

    it.each(['at+jwt', 'application/at+jwt', 'secevent+jwt', 'id_token+jwt', 'dpop+jwt', 'token-introspection+jwt', 'JOSE', 'logout'])(
      'a token whose typ names another kind of token is refused (%s)',
      async (typ) => {
        await expectRefusedAndNothingChanged(async () => postToken(await sign(claims(), { typ })));
      },
    );

    it('a token whose typ is not a string is refused (an array holding JWT, a number, null)', async () => {
      for (const typ of [['JWT'], 123, null]) await expectRefusedAndNothingChanged(async () => postToken(await sign(claims(), { typ })));
    });

    it('every refusal is logged with its reason, and never with the token', async () => {
      const tokens = [await sign(claims({ exp: undefined })), await sign(claims(), { typ: 'at+jwt' }), await sign(claims({ aud: 'someone-else' }))];
      const logged = lines.length;
      for (const token of tokens) expect((await postToken(token)).status).toBe(400);
      await post('state=x');
      const refusals = lines.slice(logged).map((l) => JSON.parse(l)).filter((e) => e.event === 'backchannel.refused');
      expect(refusals.map((e) => e.reason)).toEqual([
        expect.stringContaining('no exp claim'),
        expect.stringContaining('another kind of token (at+jwt)'),
        expect.stringContaining('aud'),
        expect.stringContaining('Exactly one logout_token'),
      ]);
      const everything = lines.join('\n');
      for (const token of tokens) for (const part of token.split('.')) expect(everything).not.toContain(part);
    });
  });

  describe('malformed requests are refused before any token is looked at', () => {
    it('GET is 405 method_not_allowed with Allow: POST', async () => {
      let res: Response | undefined;
      await expectRefusedAndNothingChanged(async () => (res = await stack.browser().get(`${stack.url}/auth/backchannel-logout`)), 405, 'method_not_allowed');
      expect(res!.headers.allow).toBe('POST');
    });

    it('a form without logout_token is 400 bad_request', async () => {
      await expectRefusedAndNothingChanged(() => post('state=x'), 400, 'bad_request');
    });

    it('a form with two logout_token fields is 400 bad_request, even if both are valid', async () => {
      const [a, b] = [await sign(claims()), await sign(claims())];
      await expectRefusedAndNothingChanged(() => post(`logout_token=${a}&logout_token=${b}`), 400, 'bad_request');
    });

    it('a JSON body is 400 bad_request, even with a valid token in it', async () => {
      const token = await sign(claims());
      await expectRefusedAndNothingChanged(() => post(JSON.stringify({ logout_token: token }), { 'content-type': 'application/json' }), 400, 'bad_request');
    });

    it('a body over 16 KiB is 413 payload_too_large, even with a valid token in it', async () => {
      const token = await sign(claims());
      const body = `logout_token=${token}&padding=${'x'.repeat(16 * 1024)}`;
      await expectRefusedAndNothingChanged(() => post(body), 413, 'payload_too_large');
    });
  });

  describe('valid tokens sign the user out everywhere (section 2.7) and answer 200 (section 2.8)', () => {
    it('a valid token naming a sid ends every session of that user, and only hers', async () => {
      const first = await signIn('alice');
      const second = await signIn('alice');
      expect(second.sid).not.toBe(first.sid);
      const bobTokensBefore = memory.get(`tokens:${userKey(bob.sub)}`);

      expectSuccess(await postToken(await sign(claims({ sid: first.sid }))));

      await expectSignedOut(first);
      await expectSignedOut(second);
      expectNothingLeftOf(first.sub);
      await expectSignedIn(bob);
      expect(memory.get(`tokens:${userKey(bob.sub)}`)).toBe(bobTokensBefore);
      expect(memory.has(`sessions:${bob.sessionId}`)).toBe(true);
      expect(stored(`${sidPrefix()}${bob.sid}`)).toBe(bob.sub);
    });

    it('a valid token naming only a sub (no sid) signs that user out', async () => {
      const user = await signIn('alice');
      expectSuccess(await postToken(await sign(claims({ sid: undefined, sub: user.sub }))));
      await expectSignedOut(user);
      expectNothingLeftOf(user.sub);
      await expectSignedIn(bob);
    });

    it('unknown claims are ignored: a valid token with an extra claim signs the user out', async () => {
      const user = await signIn('alice');
      expectSuccess(await postToken(await sign(claims({ sid: user.sid, foo: 'bar' }))));
      await expectSignedOut(user);
      await expectSignedIn(bob);
    });

    it.each(['JWT', 'jwt', 'logout+jwt', 'application/logout+jwt'])('a valid token with typ %s is accepted (Keycloak before 24 and Glewlwyd send JWT)', async (typ) => {
      const user = await signIn('alice');
      expectSuccess(await postToken(await sign(claims({ sid: user.sid }), { typ })));
      await expectSignedOut(user);
      await expectSignedIn(bob);
    });

    it('a valid token without a typ header is accepted', async () => {
      const user = await signIn('alice');
      expectSuccess(await postToken(await sign(claims({ sid: user.sid }), { typ: undefined })));
      await expectSignedOut(user);
      await expectSignedIn(bob);
    });

    it('a replayed jti is a 200 that changes nothing: the user signed in again stays signed in', async () => {
      const first = await signIn('alice');
      // By sub, so that without the jti check the replay would sign her out again.
      const token = await sign(claims({ sid: undefined, sub: first.sub }));
      expectSuccess(await postToken(token));
      await expectSignedOut(first);

      const again = await signIn('alice');
      const before = snapshot();
      expectSuccess(await postToken(token));
      expect(snapshot()).toEqual(before);
      await expectSignedIn(again);
    });

    it('a token whose sid was never recorded but whose sub is known ends that user\'s sessions recorded without a sid', async () => {
      const user = await signIn('alice');
      // As if her ID token had carried no sid: the session is recorded without one.
      const listKey = `logout:sessions:${userKey(user.sub)}`;
      const envelope = JSON.parse(String(memory.get(listKey)));
      envelope.value = (envelope.value as { id: string; sid?: string }[]).map(({ sid, ...rest }) => (rest.id === user.sessionId ? rest : { ...rest, sid }));
      memory.set(listKey, JSON.stringify(envelope));
      memory.delete(`${sidPrefix()}${user.sid}`);

      expectSuccess(await postToken(await sign(claims({ sid: 'a-sid-never-recorded', sub: user.sub }))));
      await expectSignedOut(user);
      expectNothingLeftOf(user.sub);
      await expectSignedIn(bob);
    });

    it('a valid token for an unknown sid is 200 and changes nothing but remembering its jti, and for a while that the IdP ended that session', async () => {
      const user = await signIn('alice');
      const jti = randomUUID();
      const before = snapshot();
      expectSuccess(await postToken(await sign(claims({ sid: 'no-such-sid', jti }))));
      const after = snapshot();
      const jtiKey = `logout:jti:${stack.bff.idp.issuer} ${jti}`;
      // For a sign-in whose callback is under way with that sid (sign-out-races.test.ts).
      const endedKey = `logout:ended-sid:${stack.bff.idp.issuer} no-such-sid`;
      expect(Object.keys(after).filter((k) => !(k in before)).sort()).toEqual([endedKey, jtiKey].sort());
      delete after[jtiKey];
      delete after[endedKey];
      expect(after).toEqual(before);
      await expectSignedIn(user);
      await expectSignedIn(bob);
    });
  });
});

/** Providers that omit `exp` (FINDINGS): a documented switch accepts their tokens while `iat` is recent. */
describe('back-channel logout with LOGOUT_TOKEN_EXP_OPTIONAL=1', () => {
  let stack: Stack;
  let idpKey: CryptoKey | Uint8Array;
  let kid: string;

  beforeAll(async () => {
    ({ stack } = await startInspectableStack({ LOGOUT_TOKEN_EXP_OPTIONAL: '1' }));
    kid = stack.bff.devIdp!.signingKey.kid!;
    idpKey = await importJWK(stack.bff.devIdp!.signingKey, 'RS256');
  });
  afterAll(() => stack?.close());

  const now = () => Math.floor(Date.now() / 1000);
  async function tokenFor(browser: TestBrowser, iat: number) {
    const sub = (await browser.api(`${stack.url}/api/me`)).json().sub as string;
    const payload = { iss: stack.bff.idp.issuer, aud: stack.bff.idp.clientId, iat, jti: randomUUID(), sub, events: { [EVENT]: {} } };
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(idpKey);
  }
  const postToken = (token: string) => stack.browser().post(`${stack.url}/auth/backchannel-logout`, { body: new URLSearchParams({ logout_token: token }).toString(), headers: FORM });

  it('a token without exp whose iat is within the maximum age signs the user out', async () => {
    const alice = stack.browser();
    await stack.signIn(alice, 'alice');
    expect((await postToken(await tokenFor(alice, now() - 60))).status).toBe(200);
    expect((await alice.api(`${stack.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
  });

  it('a token without exp issued longer ago than the maximum age is still refused', async () => {
    const alice = stack.browser();
    await stack.signIn(alice, 'alice');
    const res = await postToken(await tokenFor(alice, now() - 400));
    expect([res.status, res.json().error]).toEqual([400, 'invalid_logout_token']);
    expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
  });
});
