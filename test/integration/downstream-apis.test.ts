import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SAMPLE_TODO_API_SCOPE } from '../../server/config';
import { SAMPLE_API_AUDIENCE, SAMPLE_TODO_API_AUDIENCE } from '../../server/dev-idp/provider';
import { devUsers } from '../../server/dev-idp/users';
import { createOutbound } from '../../server/http/outbound';
import { startSampleApi, type SampleApi, type SampleApiControls } from '../../server/sample-api';
import { TestBrowser, type Response } from '../support/browser';
import { startEntraEmulator, type EntraEmulator } from '../support/entra-emulator';
import { echo, RawUpstream, type RecordedRequest } from '../support/raw-upstream';
import { everythingReceived, JWT_PATTERN, signInAt, startInspectableStack, startStack, withExpiredAccessTokens, type Stack } from '../support/stack';

/**
 * Several downstream APIs (DOWNSTREAM_APIS) against the dev IdP, composed as `npm start` composes
 * them: the sample API (audience api://sample-api) at /api/*, and the sample todo API (audience
 * api://sample-todo-api) as the named API `todo` at /api/todo/*. Each API gets a token for its
 * own scopes only; scopes the sign-in did not ask for come through incremental consent.
 */

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;

function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.json()).toMatchObject({ error: code, message: expect.any(String) });
}

/** The query of a signInUrl (a same-origin /auth/login path). */
const signInQuery = (signInUrl: string) => new URLSearchParams(signInUrl.split('?')[1]);

describe('two sample APIs with different audiences (dev IdP)', () => {
  let env: Inspectable;
  let bff: string;
  let main: SampleApiControls;
  let todo: SampleApiControls;

  beforeAll(async () => {
    env = await startInspectableStack();
    bff = env.stack.url;
    main = env.stack.bff.sampleApi!.controls;
    todo = env.stack.bff.sampleTodoApi!.controls;
  });
  afterAll(async () => {
    await env?.stack.close();
  });
  beforeEach(() => {
    main.reset();
    todo.reset();
  });

  const browser = () => env.stack.browser();

  /** Signs in, then consents to the todo API through the signInUrl its first call answers with. */
  async function signInWithBothApis(b: TestBrowser, username: string): Promise<void> {
    await env.stack.signIn(b, username);
    const first = await b.api(`${bff}/api/todo/todos`, { headers: { 'x-return-to': '/todos' } });
    expectProblem(first, 401, 'reauthenticate');
    const callback = await signInAt(b, bff, username, undefined, await b.get(`${bff}${first.json().signInUrl}`));
    expect(callback.headers.location).toBe(`${bff}/todos`);
  }

  it('sign-in asks only for the default scopes: openid, profile, offline_access, email and the default API’s', async () => {
    const login = await browser().get(`${bff}/auth/login`);
    const scope = new URL(login.headers.location!).searchParams.get('scope')!.split(' ').sort();
    expect(scope).toEqual(['api://sample-api/access_as_user', 'email', 'offline_access', 'openid', 'profile']);
  });

  it('incremental consent: the first call to an API whose scopes were never granted is 401 reauthenticate with a signInUrl for exactly its scopes back to the same route; the session stays; after that sign-in both APIs answer 200', async () => {
    const alice = browser();
    await env.stack.signIn(alice, 'alice');
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);

    const refused = await alice.api(`${bff}/api/todo/todos`, { headers: { 'x-return-to': '/todos?tab=open' } });
    expectProblem(refused, 401, 'reauthenticate');
    const { signInUrl } = refused.json() as { signInUrl: string };
    expect(signInUrl).toMatch(/^\/auth\/login\?/);
    expect(signInQuery(signInUrl).get('scope')).toBe(SAMPLE_TODO_API_SCOPE);
    expect(signInQuery(signInUrl).get('returnTo')).toBe('/todos?tab=open');
    // Nothing reached the todo API, and the default API still works: the session is not over.
    expect(todo.calls).toEqual([]);
    expect((await alice.api(`${bff}/auth/session`)).json().isAuthenticated).toBe(true);
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);

    // The SPA navigates there; the authorize request asks for the todo API's scope (and the
    // default API's, for consent only), and the sign-in comes back to the same route.
    const start = await alice.get(`${bff}${signInUrl}`);
    expect(start.status).toBe(302);
    const asked = new URL(start.headers.location!).searchParams.get('scope')!.split(' ');
    expect(asked).toEqual(expect.arrayContaining([SAMPLE_TODO_API_SCOPE, 'api://sample-api/access_as_user']));
    const callback = await signInAt(alice, bff, 'alice', undefined, start);
    expect(callback.headers.location).toBe(`${bff}/todos?tab=open`);

    const todos = await alice.api(`${bff}/api/todo/todos`);
    expect(todos.status).toBe(200);
    expect(todos.json().todos).toHaveLength(2);
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    expect(todo.calls.map((c) => c.presentedAudience)).toEqual([SAMPLE_TODO_API_AUDIENCE]);
  });

  it('a token for one API is never sent to the other: calls through both, in both orders, across refreshes, each API saw only tokens of its own audience', async () => {
    const bob = browser();
    await signInWithBothApis(bob, 'bob');
    const calls: [string, SampleApiControls][] = [
      [`${bff}/api/me`, main],
      [`${bff}/api/todo/me`, todo],
    ];
    const sequences = [calls, [...calls].reverse()];
    for (const sequence of sequences) {
      for (const expire of [false, true]) {
        if (expire) {
          // Every access token expired: each API's next call refreshes, for its own scopes.
          const homeAccountId = homeAccountOf('bob');
          env.setTokenCache(homeAccountId, withExpiredAccessTokens(env.tokenCacheOf(homeAccountId)!));
        }
        for (const [url, api] of sequence) {
          const before = api.calls.length;
          const res = await bob.api(url);
          expect(res.status, url).toBe(200);
          expect(api.calls.length).toBe(before + 1);
        }
      }
    }
    expect(main.calls.length).toBe(4);
    expect(todo.calls.length).toBe(4);
    expect(new Set(main.calls.map((c) => String(c.presentedAudience)))).toEqual(new Set([SAMPLE_API_AUDIENCE]));
    expect(new Set(todo.calls.map((c) => String(c.presentedAudience)))).toEqual(new Set([SAMPLE_TODO_API_AUDIENCE]));
    // What each API answered with: its own user view, from a token it accepted.
    expect((await bob.api(`${bff}/api/todo/me`)).json()).toMatchObject({ aud: SAMPLE_TODO_API_AUDIENCE, scope: SAMPLE_TODO_API_SCOPE });
    expect((await bob.api(`${bff}/api/me`)).json()).toMatchObject({ aud: SAMPLE_API_AUDIENCE });
    // And the cache holds one token per audience, neither of them ever seen by the other API.
    const tokens = Object.values(env.tokenCacheOf(homeAccountOf('bob'))!.AccessToken).map((at) => decodeJwt(at.secret).aud);
    expect(tokens.sort()).toEqual([SAMPLE_API_AUDIENCE, SAMPLE_TODO_API_AUDIENCE]);
    expect(everythingReceived(bob)).not.toMatch(JWT_PATTERN);
  });

  it('each sample API refuses a token issued for the other (its audience check)', async () => {
    const alice = browser();
    await signInWithBothApis(alice, 'alice');
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    expect((await alice.api(`${bff}/api/todo/me`)).status).toBe(200);
    const cache = env.tokenCacheOf(homeAccountOf('alice'))!;
    const byAudience = new Map(Object.values(cache.AccessToken).map((at) => [decodeJwt(at.secret).aud as string, at.secret]));
    const mainToken = byAudience.get(SAMPLE_API_AUDIENCE)!;
    const todoToken = byAudience.get(SAMPLE_TODO_API_AUDIENCE)!;
    const direct = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect((await direct(`${env.stack.bff.sampleApi!.url}/me`, todoToken)).status).toBe(401);
    expect((await direct(`${env.stack.bff.sampleTodoApi!.url}/me`, mainToken)).status).toBe(401);
    expect((await direct(`${env.stack.bff.sampleApi!.url}/me`, mainToken)).status).toBe(200);
    expect((await direct(`${env.stack.bff.sampleTodoApi!.url}/me`, todoToken)).status).toBe(200);
  });

  it('the dev IdP refuses a refresh for a scope the sign-in did not ask for (invalid_scope), as a real IdP does', async () => {
    const dave = browser();
    await env.stack.signIn(dave, 'bob');
    const cache = env.tokenCacheOf(homeAccountOf('bob'))!;
    const refreshToken = Object.values(cache.RefreshToken)[0]!.secret;
    const idp = env.stack.bff.idp;
    const tokenEndpoint = (JSON.parse(idp.metadataJson) as { token_endpoint: string }).token_endpoint;
    const refresh = (scope: string) =>
      dave.post(tokenEndpoint, {
        form: { grant_type: 'refresh_token', refresh_token: refreshToken, scope, client_id: env.stack.bff.devIdp!.clientId, client_secret: env.stack.bff.devIdp!.clientSecret },
      });
    const refused = await refresh(`openid offline_access ${SAMPLE_TODO_API_SCOPE}`);
    expect(refused.status).toBe(400);
    expect(refused.json().error).toBe('invalid_scope');
    const granted = await refresh('openid offline_access api://sample-api/access_as_user');
    expect(granted.status).toBe(200);
    expect(decodeJwt(granted.json().access_token).aud).toBe(SAMPLE_API_AUDIENCE);
  });

  it('/auth/login refuses scopes that are not one configured API’s: 400 invalid_scope, nothing sent to the IdP', async () => {
    const b = browser();
    for (const scope of ['https://graph.microsoft.com/Mail.Read', `${SAMPLE_TODO_API_SCOPE} api://sample-api/access_as_user`, `${SAMPLE_TODO_API_SCOPE} openid`, ' ', 'constructor']) {
      const res = await b.get(`${bff}/auth/login?scope=${encodeURIComponent(scope)}`);
      expectProblem(res, 400, 'invalid_scope');
      expect(res.headers.location).toBeUndefined();
    }
    const twice = await b.get(`${bff}/auth/login?scope=${encodeURIComponent(SAMPLE_TODO_API_SCOPE)}&scope=x`);
    expectProblem(twice, 400, 'invalid_scope');
  });

  /** The homeAccountId MSAL gives a dev IdP user (OIDC mode: the `sub`). */
  const homeAccountOf = (username: string) => devUsers.find((u) => u.username === username)!.id;
});

/** The `aud` of the bearer token a recorded request carried. */
const bearerAudience = (req: RecordedRequest) => {
  const auth = req.headers.find(([n]) => n === 'authorization')?.[1] ?? '';
  return decodeJwt(auth.replace(/^Bearer /, '')).aud;
};

describe('a named API goes through the same proxy as the default one (raw upstreams)', () => {
  let main: RawUpstream;
  let orders: RawUpstream;
  let stack: Stack;
  let browser: TestBrowser;

  beforeAll(async () => {
    [main, orders] = await Promise.all([RawUpstream.start(), RawUpstream.start()]);
    stack = await startStack({
      API_BASE_URL: `${main.url}/v1`,
      DOWNSTREAM_APIS: 'orders',
      DOWNSTREAM_API_ORDERS_BASE_URL: `${orders.url}/v2`,
      DOWNSTREAM_API_ORDERS_SCOPES: SAMPLE_TODO_API_SCOPE,
    });
    browser = stack.browser();
    // Straight to a sign-in that asks for the named API's scopes, as its signInUrl would.
    await signInAt(browser, stack.url, 'bob', '/', await browser.get(`${stack.url}/auth/login?scope=${encodeURIComponent(SAMPLE_TODO_API_SCOPE)}`));
  });
  afterAll(async () => {
    await stack?.close();
    await Promise.all([main?.close(), orders?.close()]);
  });

  it.each([
    ['/api/orders/me', 'orders', '/v2/me'],
    ['/api/orders', 'orders', '/v2/'],
    ['/api/orders/', 'orders', '/v2/'],
    ['/api/orders/items?q=../x', 'orders', '/v2/items?q=../x'],
    ['/api/me', 'main', '/v1/me'],
    ['/api/ordersx/me', 'main', '/v1/ordersx/me'],
    ['/api/Orders/me', 'main', '/v1/Orders/me'],
    ['/api/%6frders/me', 'main', '/v1/%6frders/me'],
  ])('%s reaches the %s API as %s, with a token of that API’s audience', async (path, which, target) => {
    const upstream = which === 'orders' ? orders : main;
    const before = { main: main.mark(), orders: orders.mark() };
    const res = await browser.api(stack.url, { rawPath: path });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ target, user: 'bob' });
    const [request] = upstream.since(before[which as 'main' | 'orders']).requests;
    expect(bearerAudience(request!)).toBe(which === 'orders' ? SAMPLE_TODO_API_AUDIENCE : SAMPLE_API_AUDIENCE);
    expect((which === 'orders' ? main : orders).since(before[which === 'orders' ? 'main' : 'orders']).requests).toEqual([]);
  });

  it('path checks hold under a named API: dot segments, encoded separators and an authority are invalid_path and reach nothing', async () => {
    const before = { main: main.mark(), orders: orders.mark() };
    for (const path of ['/api/orders/..', '/api/orders/%2e%2e/me', '/api/orders/..;/x', '/api/orders/a%2fb', '/api/orders//evil.example/x', '/api/orders/%252e%252e/admin']) {
      const res = await browser.api(stack.url, { rawPath: path });
      expect([path, res.status, res.json().error]).toEqual([path, 400, 'invalid_path']);
    }
    expect(main.since(before.main)).toEqual({ requests: [], bytes: 0 });
    expect(orders.since(before.orders)).toEqual({ requests: [], bytes: 0 });
  });

  it('headers follow the same allowlists: no cookie or X-CSRF reaches a named API, and its Location comes back under /api/<name>', async () => {
    orders.respond = (req) => ({ status: 201, headers: [['Content-Type', 'application/json'], ['Location', '/v2/items/7'], ['Set-Cookie', 'x=1']], body: JSON.stringify({ target: req.target }) });
    try {
      const before = orders.mark();
      const res = await browser.api(`${stack.url}/api/orders/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status).toBe(201);
      expect(res.headers.location).toBe('/api/orders/items/7');
      expect(res.headers['set-cookie']).toBeUndefined();
      const [request] = orders.since(before).requests;
      const names = request!.headers.map(([n]) => n);
      expect(names).not.toContain('cookie');
      expect(names).not.toContain('x-csrf');
    } finally {
      orders.respond = echo;
    }
  });
});

/** Microsoft Graph's application id: the `aud` of Graph's access tokens (the emulator's too). */
const GRAPH_AUDIENCE = '00000003-0000-0000-c000-000000000000';
const GRAPH_USER_READ = 'https://graph.microsoft.com/User.Read';

describe('a Graph-like named API in Entra mode (Entra emulator): per-API tokens and incremental consent', () => {
  const CLIENT_ID = '0d3c2b1a-5e4f-4a6b-9c8d-7e6f5a4b3c2d';
  const CLIENT_SECRET = 'emulated~entra~client~secret~downstream~apis';
  let entra: EntraEmulator;
  let graph: SampleApi;
  let outbound: ReturnType<typeof createOutbound>;
  let stack: Stack;

  beforeAll(async () => {
    entra = await startEntraEmulator();
    outbound = createOutbound(entra.ca);
    // Stands in for https://graph.microsoft.com/v1.0: it takes only tokens whose aud is Graph's and whose scp has User.Read.
    graph = await startSampleApi({ port: 0, issuer: entra.issuer, jwksUri: `${entra.origin}/${entra.tenantId}/discovery/v2.0/keys`, audience: GRAPH_AUDIENCE, requiredScope: GRAPH_USER_READ, outbound });
    stack = await startStack({
      ENTRA_TENANT_ID: entra.tenantId,
      ENTRA_CLIENT_ID: CLIENT_ID,
      ENTRA_CLIENT_SECRET: CLIENT_SECRET,
      ENTRA_CLOUD_INSTANCE: entra.origin,
      OIDC_CA_FILE: entra.caFile,
      DOWNSTREAM_APIS: 'graph',
      DOWNSTREAM_API_GRAPH_BASE_URL: graph.url,
      DOWNSTREAM_API_GRAPH_SCOPES: GRAPH_USER_READ,
    });
    entra.registerApplication({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${stack.url}/auth/callback`, `${stack.url}/`] });
  });
  afterAll(async () => {
    await stack?.close();
    await graph?.close();
    outbound?.close();
    await entra?.close();
  });

  it('Graph’s scope not consented: Entra refuses the refresh (AADSTS65001 consent_required), the call is 401 reauthenticate with a signInUrl for User.Read; after that sign-in Graph gets a token of Graph’s audience and the user’s own API one of its own', async () => {
    const alice = new TestBrowser(entra.ca);
    const login = await alice.get(`${stack.url}/auth/login`);
    expect(new URL(login.headers.location!).searchParams.get('scope')).not.toContain('User.Read');
    await signInAt(alice, stack.url, 'alice', '/', login);
    expect((await alice.api(`${stack.url}/api/me`)).status).toBe(200);

    const refreshesBefore = entra.tokenRequests.filter((r) => r.grantType === 'refresh_token').length;
    const refused = await alice.api(`${stack.url}/api/graph/me`, { headers: { 'x-return-to': '/profile' } });
    expectProblem(refused, 401, 'reauthenticate');
    // MSAL asked Entra (a refresh for Graph), and Entra said no: nothing reached Graph.
    expect(entra.tokenRequests.filter((r) => r.grantType === 'refresh_token').length).toBe(refreshesBefore + 1);
    expect(graph.controls.calls).toEqual([]);
    const { signInUrl } = refused.json() as { signInUrl: string };
    expect(signInQuery(signInUrl).get('scope')).toBe(GRAPH_USER_READ);
    expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);

    const start = await alice.get(`${stack.url}${signInUrl}`);
    const asked = new URL(start.headers.location!).searchParams.get('scope')!.split(' ');
    expect(asked).toEqual(expect.arrayContaining([GRAPH_USER_READ, 'api://sample-api/access_as_user']));
    const callback = await signInAt(alice, stack.url, 'alice', undefined, start);
    expect(callback.headers.location).toBe(`${stack.url}/profile`);

    for (const [path, api, audience] of [['/api/graph/me', graph.controls, GRAPH_AUDIENCE], ['/api/me', stack.bff.sampleApi!.controls, 'api://sample-api']] as const) {
      const res = await alice.api(`${stack.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.json().aud).toBe(audience);
      expect(api.calls.at(-1)!.presentedAudience).toBe(audience);
    }
    expect(graph.controls.calls.map((c) => c.presentedAudience)).toEqual([GRAPH_AUDIENCE]);
    expect(stack.bff.sampleApi!.controls.calls.every((c) => c.presentedAudience === 'api://sample-api')).toBe(true);
  });
});
