import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { clientAuthentication } from '../../server/identity/client-credential';
import { createLogger } from '../../server/log';
import { parseForm, TestBrowser } from '../support/browser';
import { startEntraEmulator, type EntraEmulator } from '../support/entra-emulator';
import { loadIframes, signOutAtIdp, startInspectableStack } from '../support/stack';

/**
 * Issue 15, item 4: RFC 7009 revocation of a signed-out user's refresh token, against the real dev
 * IdP (oidc-provider publishes a revocation_endpoint). Whether the token still works is asked of
 * the IdP itself: a refresh grant at its token endpoint, as the BFF would make it.
 */
type Env = Awaited<ReturnType<typeof startInspectableStack>> & { events: Record<string, unknown>[]; lines: string[] };

async function start(env: Record<string, string> = {}): Promise<Env> {
  const lines: string[] = [];
  const events: Record<string, unknown>[] = [];
  const started = await startInspectableStack(env, {
    logger: createLogger((line) => {
      lines.push(line);
      events.push(JSON.parse(line));
    }),
  });
  return { ...started, events, lines };
}

/** Signs alice in; her id and the refresh token the BFF holds for her (read from the store). */
async function signInAlice(env: Env) {
  const browser = env.stack.browser();
  await env.stack.signIn(browser, 'alice');
  const aliceId = (await browser.api(`${env.stack.url}/api/me`)).json().sub as string;
  const refreshTokens = Object.values(env.tokenCacheOf(aliceId)!.RefreshToken).map((t) => t.secret);
  expect(refreshTokens).toHaveLength(1);
  return { browser, aliceId, refreshToken: refreshTokens[0]! };
}

/** A refresh grant with `refreshToken` at the IdP's token endpoint: 'works', or the IdP's error code. */
async function refreshAtIdp(env: Env, refreshToken: string): Promise<string> {
  const { idp } = env.stack.bff;
  const tokenEndpoint = JSON.parse(idp.metadataJson).token_endpoint as string;
  const auth = await clientAuthentication(idp, tokenEndpoint);
  const res = await env.stack.browser().post(tokenEndpoint, { form: { grant_type: 'refresh_token', refresh_token: refreshToken, ...auth.fields }, headers: auth.headers });
  return res.status === 200 ? 'works' : String(res.json().error);
}

const revocations = (env: Env) => env.events.filter((e) => e.event === 'auth.revocation');

/** Waits (bounded) for an `auth.revocation` event with this outcome. */
async function revocationLogged(env: Env, outcome: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; ) {
    const found = revocations(env).find((e) => e.outcome === outcome);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no auth.revocation with outcome ${outcome}; saw ${JSON.stringify(revocations(env))}`);
}

describe('refresh-token revocation at sign-out, against the dev IdP', () => {
  let env: Env | undefined;
  afterEach(async () => {
    await env?.stack.close();
    env = undefined;
  });

  it('a sign-out started in the SPA revokes the refresh token at the IdP only after the IdP ended its own session: until the end-session redirect has been followed, the token still works', async () => {
    env = await start();
    const { browser, aliceId, refreshToken } = await signInAlice(env);
    expect(env.stack.bff.idp.revocationEndpoint).toBe(`${env.stack.bff.idp.issuer}/token/revocation`);

    const logout = await browser.api(`${env.stack.url}/auth/logout`, { method: 'POST' });
    expect(logout.status).toBe(200);
    await revocationLogged(env, 'pending');
    // Held, not revoked: the IdP session must end first, so it can still tell the other apps.
    expect(await refreshAtIdp(env, refreshToken)).toBe('works');
    const redirect = await browser.get(logout.json().endSessionUrl);
    expect(redirect.status).toBe(302);
    expect(await refreshAtIdp(env, refreshToken)).toBe('works');
    expect(revocations(env).map((e) => e.outcome)).toEqual(['pending']);

    // The IdP ends its session and calls back-channel logout: that confirmation sets the revocation off.
    await signOutAtIdp(browser, redirect.headers.location!);
    const revoked = await revocationLogged(env, 'revoked');
    expect(revoked).toMatchObject({ user: aliceId, trigger: 'backchannel', attempts: 1 });
    expect(await refreshAtIdp(env, refreshToken)).toBe('invalid_grant');
    // The held entry is gone, and nothing about the token reached the log.
    expect(env.keys('logout:revoke:')).toEqual([]);
    expect(env.lines.join('\n')).not.toContain(refreshToken);
  });

  it('without revocation (REVOKE_REFRESH_TOKENS=0) the refresh token still works at the IdP after the same sign-out', async () => {
    env = await start({ REVOKE_REFRESH_TOKENS: '0' });
    const { browser, refreshToken } = await signInAlice(env);
    const logout = await browser.api(`${env.stack.url}/auth/logout`, { method: 'POST' });
    const redirect = await browser.get(logout.json().endSessionUrl);
    await signOutAtIdp(browser, redirect.headers.location!);
    expect(env.events.filter((e) => e.event === 'auth.signout')).toHaveLength(1);
    // FINDINGS: refresh tokens granted with offline_access survive a sign-out at the IdP.
    expect(await refreshAtIdp(env, refreshToken)).toBe('works');
    expect(revocations(env)).toEqual([]);
  });

  it('a sign-out the IdP reports by back-channel revokes the refresh token at once', async () => {
    env = await start();
    const { browser, aliceId, refreshToken } = await signInAlice(env);
    await signOutAtIdp(browser, `${env.stack.bff.idp.issuer}/session/end`);
    expect(env.events.filter((e) => e.event === 'auth.signout').map((e) => e.path)).toEqual(['backchannel']);
    expect(await revocationLogged(env, 'revoked')).toMatchObject({ user: aliceId, trigger: 'backchannel' });
    expect(await refreshAtIdp(env, refreshToken)).toBe('invalid_grant');
    expect(revocations(env).map((e) => e.outcome)).toEqual(['revoked']);
    expect(env.lines.join('\n')).not.toContain(refreshToken);
  });

  it('an SPA that never follows the end-session URL still gets its refresh token revoked, at the deadline', async () => {
    env = await start({ REVOCATION_DEADLINE_SECONDS: '0.5' });
    const { browser, aliceId, refreshToken } = await signInAlice(env);
    expect((await browser.api(`${env.stack.url}/auth/logout`, { method: 'POST' })).status).toBe(200);
    expect(await revocationLogged(env, 'revoked')).toMatchObject({ user: aliceId, trigger: 'deadline' });
    expect(await refreshAtIdp(env, refreshToken)).toBe('invalid_grant');
    expect(env.keys('logout:revoke:')).toEqual([]);
  });

  it('a sign-in of the user before the IdP confirmed her SPA sign-out drops the held revocation: her new session keeps its refresh token past the deadline', async () => {
    env = await start({ REVOCATION_DEADLINE_SECONDS: '0.5' });
    const { browser, aliceId } = await signInAlice(env);
    expect((await browser.api(`${env.stack.url}/auth/logout`, { method: 'POST' })).status).toBe(200);
    // The end-session URL not followed: the IdP session is still there, and the next sign-in goes
    // through it (at oidc-provider, into the same grant).
    await env.stack.signIn(browser, 'alice');
    const renewed = Object.values(env.tokenCacheOf(aliceId)!.RefreshToken).map((t) => t.secret);
    expect(await revocationLogged(env, 'dropped')).toMatchObject({ user: aliceId });
    await new Promise((r) => setTimeout(r, 1000)); // past the deadline
    expect(revocations(env).filter((e) => e.outcome === 'revoked')).toEqual([]);
    expect(await refreshAtIdp(env, renewed[0]!)).toBe('works');
    expect((await browser.api(`${env.stack.url}/api/me`)).status).toBe(200);
  });

  it('a failing revocation endpoint (503, then 200) is retried, and the sign-out answers without waiting for it', async () => {
    env = await start();
    const { aliceId, refreshToken } = await signInAlice(env);
    const endpoint = await revocationEndpoint();
    try {
      // Where the IdP's discovery had pointed, a server that holds the first request until the
      // test lets it answer 503, then answers 200.
      (env.stack.bff.idp as { revocationEndpoint?: string }).revocationEndpoint = endpoint.url;
      const sid = env.keys('logout:sid:').find((k) => JSON.parse(String(env!.memory.get(k))).value === aliceId)!.split(' ').pop()!;
      const signOut = await env.stack.browser().get(`${env.stack.url}/auth/frontchannel-logout?sid=${encodeURIComponent(sid)}`);
      expect(signOut.status).toBe(200);
      expect(signOut.body).toContain('Signed out.');
      await endpoint.firstArrived;
      expect(revocations(env)).toEqual([]);
      endpoint.answerFirst(503);

      expect(await revocationLogged(env, 'revoked')).toMatchObject({ user: aliceId, trigger: 'frontchannel', attempts: 2 });
      expect(await revocationLogged(env, 'retrying')).toMatchObject({ reason: 'HTTP 503 temporarily_unavailable', attempts: 1 });
      expect(endpoint.forms.map((f) => [f.get('token'), f.get('token_type_hint'), f.get('client_id')])).toEqual([
        [refreshToken, 'refresh_token', env.stack.bff.idp.clientId],
        [refreshToken, 'refresh_token', env.stack.bff.idp.clientId],
      ]);
      expect(env.lines.join('\n')).not.toContain(refreshToken);
    } finally {
      await endpoint.close();
    }
  });
});

describe('refresh-token revocation at sign-out, against the Entra emulator (no revocation_endpoint)', () => {
  let entra: EntraEmulator | undefined;
  let env: Env | undefined;
  afterEach(async () => {
    await env?.stack.close();
    await entra?.close();
  });

  it('Entra publishes no revocation endpoint: a global sign-out attempts no revocation, holds nothing, and is otherwise unchanged', async () => {
    entra = await startEntraEmulator();
    const clientId = '0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e';
    const clientSecret = 'emulated~entra~client~secret~not~for~production';
    env = await start({ ENTRA_TENANT_ID: entra.tenantId, ENTRA_CLIENT_ID: clientId, ENTRA_CLIENT_SECRET: clientSecret, ENTRA_CLOUD_INSTANCE: entra.origin, OIDC_CA_FILE: entra.caFile });
    const bff = env.stack.url;
    entra.registerApplication({ clientId, clientSecret, redirectUris: [`${bff}/auth/callback`, `${bff}/`], frontchannelLogoutUrl: `${bff}/auth/frontchannel-logout` });
    expect(env.stack.bff.idp.revocationEndpoint).toBeUndefined();

    // Two sign-ins, two sign-outs: one from the SPA, one by Entra's front-channel iframe.
    for (const path of ['spa', 'frontchannel'] as const) {
      const browser = new TestBrowser(entra.ca);
      const form = parseForm((await browser.get((await browser.get(`${bff}/auth/login`)).headers.location!)).body, entra.origin);
      const back = await browser.post(form.action, { form: { ...form.fields, username: 'alice@contoso.example', password: 'password' } });
      const sid = new URL(back.headers.location!).searchParams.get('session_state')!;
      expect((await browser.get(back.headers.location!)).status).toBe(302);
      expect(Object.values(env.tokenCacheOf(entra.account('alice@contoso.example').homeAccountId)!.RefreshToken)).toHaveLength(1);
      if (path === 'spa') expect((await browser.api(`${bff}/auth/logout`, { method: 'POST' })).status).toBe(200);
      else expect((await loadIframes([`${bff}/auth/frontchannel-logout?sid=${encodeURIComponent(sid)}`]))[0]!.status).toBe(200);
    }
    expect(env.events.filter((e) => e.event === 'auth.signout').map((e) => e.path)).toEqual(['spa', 'frontchannel']);
    expect(revocations(env)).toEqual([]);
    expect(env.keys('logout:revoke')).toEqual([]);
    expect(entra.requests.filter((r) => /revo/i.test(r))).toEqual([]);
  });
});

/** A revocation endpoint on loopback: holds the first request until answerFirst(status); answers 200 after. */
async function revocationEndpoint() {
  const forms: URLSearchParams[] = [];
  let answerFirst: (status: number) => void = () => {};
  let arrived: () => void = () => {};
  const firstArrived = new Promise<void>((resolve) => (arrived = resolve));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      forms.push(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      if (forms.length > 1) return void res.writeHead(200).end();
      answerFirst = (status) => res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
      arrived();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/revoke`,
    forms,
    firstArrived,
    answerFirst: (status: number) => answerFirst(status),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
