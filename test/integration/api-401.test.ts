import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { authContextClaims, type SampleApiControls } from '../../server/sample-api';
import { TestBrowser, type Response } from '../support/browser';
import { startEntraEmulator, type EntraEmulator } from '../support/entra-emulator';
import { echo, RawUpstream, type RecordedRequest } from '../support/raw-upstream';
import { signInAt, startInspectableStack, startStack, type Stack } from '../support/stack';

/**
 * 401s from the downstream API (RFC 6750 §3, Entra's claims challenges): a claims challenge
 * makes the user sign in again asking the IdP for those claims, back on the same route; a
 * revoked token (invalid_token) is replaced in the user's shared cache entry; any other 401,
 * a malformed challenge included, stays 502 upstream_rejected_token.
 */

const CLIENT_ID = '6a4d3c2b-1f0e-4d9c-8b7a-0e1f2a3b4c5d';
const CLIENT_SECRET = 'emulated~entra~client~secret~not~for~production';
const C1 = JSON.parse(authContextClaims('c1')) as Claims;
const b64 = (text: string) => Buffer.from(text).toString('base64');

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;
type Claims = Record<string, Record<string, unknown> | undefined>;

/**
 * What MSAL asks the IdP for once it is given `asked`: exactly those claims, plus the optional
 * ID token claims MSAL adds to every request (`defaults`, read from a sign-in without claims).
 */
function withMsalDefaults(asked: Claims, defaults: Claims): Claims {
  return { ...defaults, ...asked, id_token: { ...defaults.id_token, ...asked.id_token } };
}

/** The claims parameter of the authorize request a /auth/login answer redirects to. */
const authorizeClaims = (login: Response): Claims => JSON.parse(new URL(login.headers.location!).searchParams.get('claims') ?? '{}');

/** A JSON text of `value` whose base64 ends in padding (JSON allows trailing spaces). */
function paddedJson(value: unknown): string {
  const json = JSON.stringify(value);
  return [json, `${json} `, `${json}  `].find((j) => b64(j).endsWith('='))!;
}

function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  expect(res.json()).toMatchObject({ error: code, message: expect.any(String) });
  expect(res.headers['cache-control']).toBe('no-store');
}

describe('API 401s in Entra mode (Entra emulator and sample API)', () => {
  let entra: EntraEmulator;
  let env: Inspectable;
  let bff: string;
  let api: SampleApiControls;
  let defaults: Claims;
  const entraEnv = () => ({
    // Every instance opens the others' entries.
    TOKEN_CACHE_KEY: `t1:${Buffer.alloc(32, 7).toString('base64')}`,
    ENTRA_TENANT_ID: entra.tenantId,
    ENTRA_CLIENT_ID: CLIENT_ID,
    ENTRA_CLIENT_SECRET: CLIENT_SECRET,
    ENTRA_CLOUD_INSTANCE: entra.origin,
    OIDC_CA_FILE: entra.caFile,
  });

  beforeAll(async () => {
    entra = await startEntraEmulator();
    env = await startInspectableStack(entraEnv());
    bff = env.stack.url;
    api = env.stack.bff.sampleApi!.controls;
    entra.registerApplication({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${bff}/auth/callback`, `${bff}/`] });
    defaults = authorizeClaims(await browser().get(`${bff}/auth/login`));
  });
  afterAll(async () => {
    await env?.stack.close();
    await entra?.close();
  });
  beforeEach(() => api.reset());

  const browser = () => new TestBrowser(entra.ca);
  const refreshGrants = () => entra.tokenRequests.filter((r) => r.grantType === 'refresh_token').length;
  /** The `uti` of every access token in the user's cache entry. */
  const cachedTokenIds = (homeAccountId: string) => Object.values(env.tokenCacheOf(homeAccountId)!.AccessToken).map((at) => decodeJwt(at.secret).uti);

  it('a claims challenge answers 401 reauthenticate with a same-origin signInUrl; signing in there asks Entra for exactly those claims, returns to the same route, and the call then succeeds', async () => {
    const alice = browser();
    await signInAt(alice, bff, 'alice');
    api.requireAuthContext('/todos', 'c1');

    const challenged = await alice.api(`${bff}/api/todos`, { headers: { 'x-return-to': '/session?tab=tokens#top' } });
    expectProblem(challenged, 401, 'reauthenticate');
    const { signInUrl } = challenged.json() as { signInUrl: string };
    expect(signInUrl).toMatch(/^\/auth\/login\?/);
    expect(api.calls).toEqual([expect.objectContaining({ path: '/todos', status: 401, challenge: expect.stringContaining('error="insufficient_claims"') })]);
    // The session is still there: only a new sign-in can satisfy the API.
    expect((await alice.api(`${bff}/auth/session`)).json().isAuthenticated).toBe(true);

    // The SPA navigates there, as a top-level navigation.
    const authorizeBefore = entra.authorizeRequests.length;
    const tokenBefore = entra.tokenRequests.length;
    const start = await alice.get(`${bff}${signInUrl}`);
    expect(start.status).toBe(302);
    expect(authorizeClaims(start)).toEqual(withMsalDefaults(C1, defaults));
    const callback = await signInAt(alice, bff, 'alice', undefined, start);
    // What reached the IdP: the authorize request, then the code redemption, both with those claims.
    const authorize = entra.authorizeRequests.slice(authorizeBefore);
    expect(authorize).toHaveLength(1);
    expect(JSON.parse(authorize[0]!.get('claims')!)).toEqual(withMsalDefaults(C1, defaults));
    const redemption = entra.tokenRequests.slice(tokenBefore).find((r) => r.grantType === 'authorization_code');
    expect(JSON.parse(redemption!.claims!)).toEqual(withMsalDefaults(C1, defaults));
    expect(callback.status).toBe(302);
    expect(callback.headers.location).toBe(`${bff}/session?tab=tokens#top`);

    const todos = await alice.api(`${bff}/api/todos`);
    expect(todos.status).toBe(200);
    expect(api.calls.at(-1)).toMatchObject({ path: '/todos', status: 200, acrs: ['c1'] });
  });

  it('a claims challenge without X-Return-To, or with one that leaves the origin, comes back to "/"', async () => {
    const alice = browser();
    await signInAt(alice, bff, 'alice');
    api.requireAuthContext('/me', 'c1');
    const unsafe: Record<string, string>[] = [{}, { 'x-return-to': '//evil.example/x' }, { 'x-return-to': 'https://evil.example/' }, { 'x-return-to': '/\\evil.example' }];
    for (const headers of unsafe) {
      const res = await alice.api(`${bff}/api/me`, { headers });
      expectProblem(res, 401, 'reauthenticate');
      expect(new URLSearchParams(res.json().signInUrl.split('?')[1]).get('returnTo')).toBe('/');
    }
  });

  it('invalid_token on a GET: the BFF replaces that token in the user’s cache entry, sends the call once more with the new one, and answers 200', async () => {
    const alice = browser();
    await signInAt(alice, bff, 'alice');
    const { homeAccountId } = entra.account('alice');
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    const revoked = api.calls.at(-1)!.tokenId!;
    api.revokeToken(revoked);
    const refreshesBefore = refreshGrants();

    const me = await alice.api(`${bff}/api/me`);
    expect(me.status).toBe(200);
    const [refused, retried] = api.calls.slice(-2);
    expect(refused).toMatchObject({ path: '/me', status: 401, tokenId: revoked });
    expect(retried).toMatchObject({ path: '/me', status: 200 });
    expect(retried!.tokenId).not.toBe(revoked);
    expect(refreshGrants()).toBe(refreshesBefore + 1);
    expect(cachedTokenIds(homeAccountId)).toEqual([retried!.tokenId]);

    // The next call takes the new token as it is: no refresh, no refusal.
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    expect(api.calls.at(-1)).toMatchObject({ status: 200, tokenId: retried!.tokenId });
    expect(refreshGrants()).toBe(refreshesBefore + 1);
  });

  it('invalid_token on a POST: 502 upstream_rejected_token without sending it again, and the next call carries a new, valid token', async () => {
    const alice = browser();
    await signInAt(alice, bff, 'alice');
    const { homeAccountId } = entra.account('alice');
    expect((await alice.api(`${bff}/api/todos`)).status).toBe(200);
    const revoked = api.calls.at(-1)!.tokenId!;
    api.revokeToken(revoked);

    const post = await alice.api(`${bff}/api/todos`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"x"}' });
    expectProblem(post, 502, 'upstream_rejected_token');
    expect(api.calls.slice(-1)).toEqual([expect.objectContaining({ method: 'POST', status: 401, tokenId: revoked })]);
    const [renewed] = cachedTokenIds(homeAccountId);
    expect(renewed).not.toBe(revoked);

    const refreshesBefore = refreshGrants();
    expect((await alice.api(`${bff}/api/todos`)).status).toBe(200);
    expect(api.calls.at(-1)).toMatchObject({ method: 'GET', status: 200, tokenId: renewed });
    expect(refreshGrants()).toBe(refreshesBefore);
  });

  it('parallel calls refused the same revoked token share one refresh', async () => {
    const alice = browser();
    await signInAt(alice, bff, 'alice');
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    api.revokeToken(api.calls.at(-1)!.tokenId!);
    const refreshesBefore = refreshGrants();
    const answers = await Promise.all(Array.from({ length: 8 }, () => alice.api(`${bff}/api/me`)));
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(refreshGrants()).toBe(refreshesBefore + 1);
  });

  it('a token replaced on one instance is the one every instance uses next: the cache entry is shared', async () => {
    const alice = browser();
    await signInAt(alice, bff, 'alice');
    const { homeAccountId } = entra.account('alice');
    // A second BFF on the same stores and the same API, as behind a load balancer.
    const other = await startStack({ ...entraEnv(), API_BASE_URL: env.stack.bff.apiBaseUrl }, { stores: env.stack.bff.stores });
    try {
      expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
      const revoked = api.calls.at(-1)!.tokenId!;
      api.revokeToken(revoked);

      // The session cookie is host-scoped, so the same browser reaches the other instance.
      expect((await alice.api(`${other.url}/api/me`)).status).toBe(200);
      const renewed = api.calls.at(-1)!.tokenId!;
      expect(renewed).not.toBe(revoked);
      expect(cachedTokenIds(homeAccountId)).toEqual([renewed]);

      const refreshesBefore = refreshGrants();
      expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
      expect(api.calls.at(-1)).toMatchObject({ status: 200, tokenId: renewed });
      expect(api.calls.filter((c) => c.tokenId === revoked && c.status === 200)).toHaveLength(1);
      expect(refreshGrants()).toBe(refreshesBefore);
    } finally {
      await other.bff.close().catch(() => {});
    }
  });

  it('a 2 KB claims request with a long returnTo still fits the pending sign-in cookie (returnTo gives way to "/")', async () => {
    const alice = browser();
    // Quote-dense JSON, as close to 2 KB as it goes: the costliest to carry.
    const asked: Record<string, unknown> = { access_token: { acrs: { essential: true, value: 'c1' } } };
    for (let i = 0; Buffer.byteLength(JSON.stringify({ ...asked, [`k${i}`]: '' })) <= 2048; i++) asked[`k${i}`] = '';
    const claims = JSON.stringify(asked);
    expect(Buffer.byteLength(claims)).toBeGreaterThan(2030);
    const start = await alice.get(`${bff}/auth/login?returnTo=${encodeURIComponent(`/${'a'.repeat(1200)}`)}&claims=${Buffer.from(claims).toString('base64url')}`);
    expect(start.status).toBe(302);
    const pending = (start.headers['set-cookie'] ?? []).find((c) => c.startsWith('bff.login.'))!;
    expect(pending.split(';')[0]!.length).toBeLessThan(4000);
    const callback = await signInAt(alice, bff, 'alice', undefined, start);
    expect(callback.headers.location).toBe(`${bff}/`);
    expect(JSON.parse(entra.authorizeRequests.at(-1)!.get('claims')!)).toEqual(withMsalDefaults(asked as Claims, defaults));
  });
});

describe('API 401s against an API that answers anything (dev IdP)', () => {
  let upstream: RawUpstream;
  let stack: Stack;
  let browser: TestBrowser;
  let defaults: Claims;
  const claims = authContextClaims('c1');

  beforeAll(async () => {
    upstream = await RawUpstream.start();
    stack = await startStack({ API_BASE_URL: upstream.url });
    browser = stack.browser();
    await stack.signIn(browser, 'alice');
    defaults = authorizeClaims(await stack.browser().get(`${stack.url}/auth/login`));
  });
  afterAll(async () => {
    await stack?.close();
    await upstream?.close();
  });
  beforeEach(() => upstream.reset());

  const refuse = (...challenges: string[]) => {
    upstream.respond = (req) =>
      req.target.startsWith('/refused')
        ? { status: 401, headers: [...challenges.map((c): [string, string] => ['WWW-Authenticate', c]), ['Content-Type', 'application/json']], body: '{"error":"no"}' }
        : echo(req);
  };
  const bearer = (req: RecordedRequest) => req.headers.find(([n]) => n === 'authorization')?.[1];

  it.each([
    ['no WWW-Authenticate', []],
    ['Basic only', ['Basic realm="api"']],
    ['a Bearer challenge without an error', ['Bearer realm="api"']],
    ['error="invalid_request"', ['Bearer error="invalid_request", error_description="bad"']],
    ['error="insufficient_scope" on a 401', ['Bearer error="insufficient_scope", scope="x"']],
    ['invalid_token under another scheme', ['DPoP error="invalid_token"']],
  ])('any other 401 is still 502 upstream_rejected_token: %s', async (_kind, challenges) => {
    refuse(...challenges);
    const mark = upstream.mark();
    const res = await browser.api(`${stack.url}/api/refused`);
    expectProblem(res, 502, 'upstream_rejected_token');
    expect(res.json().signInUrl).toBeUndefined();
    expect(upstream.since(mark).requests).toHaveLength(1);
  });

  it.each([
    ['an unterminated quoted string', `Bearer error="insufficient_claims, claims="${b64(claims)}"`],
    ['claims not base64', 'Bearer error="insufficient_claims", claims="{not base64}"'],
    ['claims not JSON', `Bearer error="insufficient_claims", claims="${b64('{oops')}"`],
    ['claims a JSON array', `Bearer error="insufficient_claims", claims="${b64('[{"access_token":{}}]')}"`],
    ['claims over 2 KB', `Bearer error="insufficient_claims", claims="${b64(JSON.stringify({ access_token: { x: 'a'.repeat(2100) } }))}"`],
    ['claims missing', 'Bearer error="insufficient_claims"'],
    ['padded claims not quoted (not a token)', `Bearer error=insufficient_claims, claims=${b64(paddedJson(C1))}`],
    ['the error named twice', `Bearer error="insufficient_claims", claims="${b64(claims)}", error="insufficient_claims"`],
    ['parameters without commas', `Bearer error="insufficient_claims" claims="${b64(claims)}"`],
    ['invalid_token in a broken field', 'Bearer error="invalid_token'],
  ])('a malformed challenge is handled like any other 401 (502, nothing renewed, nothing resent): %s', async (_kind, challenge) => {
    refuse(challenge);
    const mark = upstream.mark();
    const res = await browser.api(`${stack.url}/api/refused`);
    expectProblem(res, 502, 'upstream_rejected_token');
    expect(res.json().signInUrl).toBeUndefined();
    expect(upstream.since(mark).requests).toHaveLength(1);
  });

  it('a claims challenge in odd but valid syntax (several challenges, case, escapes, tabs, unpadded base64url) is 401 reauthenticate with exactly its claims', async () => {
    const asked: Claims = { access_token: { acrs: { essential: true, value: 'c1' }, nbf: { essential: true, value: '1604106651' } }, id_token: { x: 'a"b\\c' } };
    refuse(`Basic realm="a, b", BEARER\trealm="say \\"hi\\"",ERROR = "insufficient_claims" , Claims=${Buffer.from(JSON.stringify(asked)).toString('base64url')}, Negotiate abc==`);
    const res = await browser.api(`${stack.url}/api/refused`, { headers: { 'x-return-to': '/todos?filter=open' } });
    expectProblem(res, 401, 'reauthenticate');
    const params = new URLSearchParams(res.json().signInUrl.replace(/^\/auth\/login\?/, ''));
    expect(params.get('returnTo')).toBe('/todos?filter=open');
    expect(JSON.parse(Buffer.from(params.get('claims')!, 'base64url').toString())).toEqual(asked);
    // The route to the API never carries the SPA's own header.
    expect(upstream.requests.at(-1)!.headers.map(([n]) => n)).not.toContain('x-return-to');

    // /auth/login passes exactly those claims on to the IdP's authorize request.
    const start = await stack.browser().get(`${stack.url}${res.json().signInUrl}`);
    expect(start.status).toBe(302);
    expect(authorizeClaims(start)).toEqual(withMsalDefaults(asked, defaults));
  });

  it('a claims challenge on a POST is 401 reauthenticate too', async () => {
    refuse(`Bearer error="insufficient_claims", claims="${b64(claims)}"`);
    const res = await browser.api(`${stack.url}/api/refused`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expectProblem(res, 401, 'reauthenticate');
    expect(res.json().signInUrl).toMatch(/^\/auth\/login\?returnTo=%2F&claims=/);
  });

  it('invalid_token on a GET is sent once more with a new token, and only once: a second refusal is 502', async () => {
    refuse('Bearer error="invalid_token", error_description="The token was revoked"');
    const mark = upstream.mark();
    const res = await browser.api(`${stack.url}/api/refused`);
    expectProblem(res, 502, 'upstream_rejected_token');
    const sent = upstream.since(mark).requests;
    expect(sent).toHaveLength(2);
    expect(bearer(sent[1]!)).not.toBe(bearer(sent[0]!));

    // The token of the second try is the one now in use.
    await browser.api(`${stack.url}/api/ok`);
    expect(bearer(upstream.requests.at(-1)!)).toBe(bearer(sent[1]!));
  });

  it('invalid_token then a claims challenge on the retry is 401 reauthenticate', async () => {
    let tries = 0;
    upstream.respond = () =>
      ++tries === 1
        ? { status: 401, headers: [['WWW-Authenticate', 'Bearer error="invalid_token"']] }
        : { status: 401, headers: [['WWW-Authenticate', `Bearer error="insufficient_claims", claims="${b64(claims)}"`]] };
    const res = await browser.api(`${stack.url}/api/refused`);
    expectProblem(res, 401, 'reauthenticate');
    expect(tries).toBe(2);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('invalid_token on %s is not sent again: 502, and the next call carries a new token', async (method) => {
    refuse('Bearer error="invalid_token"');
    const mark = upstream.mark();
    const withBody = method !== 'DELETE';
    const res = await browser.api(`${stack.url}/api/refused`, { method, ...(withBody ? { headers: { 'content-type': 'application/json' }, body: '{"a":1}' } : {}) });
    expectProblem(res, 502, 'upstream_rejected_token');
    const sent = upstream.since(mark).requests;
    expect(sent).toHaveLength(1);
    await browser.api(`${stack.url}/api/ok`);
    expect(bearer(upstream.requests.at(-1)!)).not.toBe(bearer(sent[0]!));
  });

  it('HEAD is sent once more after invalid_token, like GET', async () => {
    refuse('Bearer error="invalid_token"');
    const mark = upstream.mark();
    const res = await browser.request(`${stack.url}/api/refused`, { method: 'HEAD', headers: { 'x-csrf': '1' } });
    expect(res.status).toBe(502);
    expect(upstream.since(mark).requests.map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
  });
});

describe('/auth/login takes a claims request (dev IdP)', () => {
  let stack: Stack;
  let defaults: Claims;

  beforeAll(async () => {
    stack = await startStack();
    defaults = authorizeClaims(await stack.browser().get(`${stack.url}/auth/login`));
  });
  afterAll(() => stack?.close());

  const asked: Claims = { access_token: { acrs: { essential: true, value: 'c1' } } };

  it.each([
    ['base64url', Buffer.from(JSON.stringify(asked)).toString('base64url')],
    ['JSON', encodeURIComponent(JSON.stringify(asked))],
  ])('as %s, and sends exactly those claims to the IdP', async (_kind, value) => {
    const res = await stack.browser().get(`${stack.url}/auth/login?claims=${value}`);
    expect(res.status).toBe(302);
    expect(authorizeClaims(res)).toEqual(withMsalDefaults(asked, defaults));
    expect(authorizeClaims(res)).not.toEqual(defaults);
  });

  it('without claims, the authorize request asks for MSAL’s optional ID token claims only', () => {
    expect(Object.keys(defaults)).toEqual(['id_token']);
    expect(Object.values(defaults.id_token!).every((c) => (c as { essential?: boolean }).essential === false)).toBe(true);
  });

  it.each([
    ['not JSON', encodeURIComponent('{oops')],
    ['a JSON array', encodeURIComponent('[1]')],
    ['base64url of a JSON array', Buffer.from('[1]').toString('base64url')],
    ['base64url of text', Buffer.from('hello').toString('base64url')],
    ['padded base64', b64(paddedJson(asked))],
    ['standard base64 with + or /', Buffer.from('{"a":"??>>??~~"}').toString('base64').replace(/=+$/, '')],
    ['over 2 KB', Buffer.from(JSON.stringify({ x: 'a'.repeat(2100) })).toString('base64url')],
    ['given twice', `${Buffer.from('{}').toString('base64url')}&claims=${Buffer.from('{}').toString('base64url')}`],
    ['empty', ''],
  ])('refuses %s with 400 bad_request and starts no sign-in', async (_kind, value) => {
    const res = await stack.browser().get(`${stack.url}/auth/login?claims=${value}`);
    expect(res.status).toBe(400);
    expect(res.json().error).toBe('bad_request');
    expect(res.headers['set-cookie'] ?? []).toEqual([]);
  });

  it('a claims challenge followed through the dev IdP: it grants the authentication context asked for, and the call succeeds', async () => {
    const browser = stack.browser();
    await stack.signIn(browser, 'alice');
    const api = stack.bff.sampleApi!.controls;
    api.reset();
    api.requireAuthContext('/me', 'c1');
    const challenged = await browser.api(`${stack.url}/api/me`, { headers: { 'x-return-to': '/session' } });
    expectProblem(challenged, 401, 'reauthenticate');
    const callback = await signInAt(browser, stack.url, 'alice', undefined, await browser.get(`${stack.url}${challenged.json().signInUrl}`));
    expect(callback.headers.location).toBe(`${stack.url}/session`);
    expect((await browser.api(`${stack.url}/api/me`)).status).toBe(200);
    expect(api.calls.at(-1)).toMatchObject({ path: '/me', status: 200, acrs: ['c1'] });
    api.reset();
  });
});
