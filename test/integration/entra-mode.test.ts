import { ProtocolMode } from '@azure/msal-node';
import { userKey } from '../../server/stores/user-slot';
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log';
import { parseForm, TestBrowser, type Response } from '../support/browser';
import { startEntraEmulator, type EntraEmulator } from '../support/entra-emulator';
import { everythingReceived, JWT_PATTERN, loadIframes, startInspectableStack, withExpiredAccessTokens, type TokenCacheJson } from '../support/stack';

/**
 * The BFF in Entra ID mode, configured only as a user would (ENTRA_* and OIDC_CA_FILE), against
 * the Entra emulator (test/support/entra-emulator): MSAL in AAD protocol mode, homeAccountId from
 * client_info, Entra-shaped access tokens, end-session with logout_hint, front-channel logout
 * by `sid` alone, no back-channel logout.
 */

const CLIENT_ID = '6a4d3c2b-1f0e-4d9c-8b7a-0e1f2a3b4c5d';
const CLIENT_SECRET = 'emulated~entra~client~secret~not~for~production';

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;

describe('Entra ID mode against the Entra emulator', () => {
  let entra: EntraEmulator;
  let env: Inspectable;
  let bff: string;

  beforeAll(async () => {
    entra = await startEntraEmulator();
    env = await startInspectableStack({
      ENTRA_TENANT_ID: entra.tenantId,
      ENTRA_CLIENT_ID: CLIENT_ID,
      ENTRA_CLIENT_SECRET: CLIENT_SECRET,
      ENTRA_CLOUD_INSTANCE: entra.origin,
      OIDC_CA_FILE: entra.caFile,
    });
    bff = env.stack.url;
    // What the app registration holds: the callback and the post-logout page as Web redirect
    // URIs, and the front-channel logout URL.
    entra.registerApplication({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUris: [`${bff}/auth/callback`, `${bff}/`],
      frontchannelLogoutUrl: `${bff}/auth/frontchannel-logout`,
    });
  });
  afterAll(async () => {
    await env?.stack.close();
    await entra?.close();
  });

  const browser = () => new TestBrowser(entra.ca);

  /** Signs in through the BFF: Entra's login form the first time in a browser, SSO after. Returns that session's sid. */
  async function signIn(browser: TestBrowser, username: string): Promise<{ authorize: URL; callback: Response; sawLoginForm: boolean; sid: string }> {
    const login = await browser.get(`${bff}/auth/login`);
    expect(login.status).toBe(302);
    const authorize = new URL(login.headers.location!);
    let res = await browser.get(authorize.toString());
    const sawLoginForm = res.status === 200;
    if (sawLoginForm) {
      const form = parseForm(res.body, res.url);
      res = await browser.post(form.action, { form: { ...form.fields, username, password: 'password' } });
    }
    expect(res.status).toBe(302);
    const back = new URL(res.headers.location!);
    expect(`${back.origin}${back.pathname}`).toBe(`${bff}/auth/callback`);
    const callback = await browser.get(back.toString());
    return { authorize, callback, sawLoginForm, sid: back.searchParams.get('session_state')! };
  }

  const tokenCache = (homeAccountId: string): TokenCacheJson => env.tokenCacheOf(homeAccountId)!;

  /** What a global sign-out of a user leaves behind: nothing of theirs, and the other user untouched. */
  async function expectSignedOutEverywhere(homeAccountId: string, sessions: TestBrowser[], other: TestBrowser) {
    for (const session of sessions) {
      expect((await session.api(`${bff}/auth/session`)).json()).toEqual({ isAuthenticated: false });
      expect((await session.api(`${bff}/api/me`)).status).toBe(401);
    }
    expect(env.keys(`tokens:${userKey(homeAccountId)}`)).toEqual([]);
    expect(env.keys('sessions:').filter((k) => String(env.memory.get(k)).includes(homeAccountId))).toEqual([]);
    expect(env.keys('logout:sid:').filter((k) => String(env.memory.get(k)).includes(homeAccountId))).toEqual([]);
    expect((await other.api(`${bff}/api/me`)).json().preferred_username).toBe('bob@contoso.example');
  }

  /** Entra's signed-out page: the front-channel iframes it loads and where it goes next. */
  function signedOutPage(page: Response): { iframes: string[]; next?: string } {
    const decode = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));
    expect(page.body).toContain('You signed out of your account');
    const next = /id="continue" href="([^"]+)"/.exec(page.body)?.[1];
    return {
      iframes: [...page.body.matchAll(/<iframe[^>]*src="([^"]+)"/g)].map((m) => decode(m[1]!)),
      next: next === undefined ? undefined : decode(next),
    };
  }

  it('reads the tenant’s v2.0 discovery document and runs MSAL in AAD protocol mode', () => {
    const { idp } = env.stack.bff;
    expect(idp.kind).toBe('entra');
    expect(idp.protocolMode).toBe(ProtocolMode.AAD);
    expect(idp.authority).toBe(`${entra.origin}/${entra.tenantId}`);
    expect(idp.issuer).toBe(`${entra.origin}/${entra.tenantId}/v2.0`);
    expect(idp.endSessionEndpoint).toBe(`${entra.origin}/${entra.tenantId}/oauth2/v2.0/logout`);
    expect(idp.origin).toBe(entra.origin);
  });

  it('needs no instance discovery and no discovery request from MSAL: the BFF reads the document once', async () => {
    const alice = browser();
    await signIn(alice, 'alice');
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    const discovery = entra.requests.filter((r) => /discovery\/instance|openid-configuration/.test(r));
    expect(discovery).toEqual([`GET /${entra.tenantId}/v2.0/.well-known/openid-configuration`]);
  });

  it('signs alice in with code + PKCE and keys her token cache entry by <oid>.<tid> from client_info', async () => {
    const alice = browser();
    const { authorize, callback, sawLoginForm } = await signIn(alice, 'alice');
    expect(sawLoginForm).toBe(true);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${entra.origin}/${entra.tenantId}/oauth2/v2.0/authorize`);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('response_mode')).toBe('query');
    expect(authorize.searchParams.get('client_info')).toBe('1');
    expect(callback.status).toBe(302);
    expect(callback.headers.location).toBe(`${bff}/`);

    const { oid, tid, homeAccountId } = entra.account('alice');
    expect(homeAccountId).toBe(`${oid}.${tid}`);
    expect(env.keys('tokens:')).toContain(`tokens:${userKey(homeAccountId)}`);
    expect(Object.values(tokenCache(homeAccountId).Account).map((a) => a.home_account_id)).toEqual([homeAccountId]);
    expect((await alice.api(`${bff}/auth/session`)).json()).toMatchObject({
      isAuthenticated: true,
      user: { name: 'Alice Example', username: 'alice@contoso.example' },
    });
    expect(everythingReceived(alice)).not.toMatch(JWT_PATTERN);
    expect(everythingReceived(alice)).not.toContain(CLIENT_SECRET);
  });

  it('signs in again in the same browser without a form (Entra SSO), under the same Entra sid', async () => {
    const alice = browser();
    const first = await signIn(alice, 'alice');
    const again = await signIn(alice, 'alice');
    expect(again.sawLoginForm).toBe(false);
    expect(again.sid).toBe(first.sid);
    expect((await alice.api(`${bff}/auth/session`)).json().isAuthenticated).toBe(true);
  });

  it('answers /api/me with alice’s claims from the sample API, which accepts Entra’s access token (typ JWT, scp)', async () => {
    const alice = browser();
    await signIn(alice, 'alice');
    const { oid, tid, homeAccountId } = entra.account('alice');
    const me = await alice.api(`${bff}/api/me`);
    expect(me.status).toBe(200);
    expect(me.json()).toMatchObject({
      oid,
      tid,
      name: 'Alice Example',
      preferred_username: 'alice@contoso.example',
      aud: 'api://sample-api',
      iss: entra.issuer,
      scp: 'access_as_user',
    });
    // Entra's sub is pairwise: not the object id.
    expect(me.json().sub).not.toBe(oid);
    const [accessToken] = Object.values(tokenCache(homeAccountId).AccessToken);
    expect(decodeProtectedHeader(accessToken!.secret)).toMatchObject({ typ: 'JWT', alg: 'RS256' });
  });

  it('refreshes an expired access token silently at Entra’s token endpoint', async () => {
    const alice = browser();
    await signIn(alice, 'alice');
    const { homeAccountId } = entra.account('alice');
    const before = Object.values(tokenCache(homeAccountId).AccessToken)[0]!;
    env.setTokenCache(homeAccountId, withExpiredAccessTokens(tokenCache(homeAccountId)));

    const me = await alice.api(`${bff}/api/me`);
    expect(me.status).toBe(200);
    const refreshed = Object.values(tokenCache(homeAccountId).AccessToken)[0]!;
    expect(refreshed.secret).not.toBe(before.secret);
    expect(Number(refreshed.expires_on)).toBeGreaterThan(Date.now() / 1000);
  });

  it('SPA-initiated sign-out answers Entra’s end-session URL with logout_hint; Entra then front-channels the BFF', async () => {
    const [alice1, alice2, bob] = [browser(), browser(), browser()];
    const { sid: alice1Sid } = await signIn(alice1, 'alice');
    const { sid: alice2Sid } = await signIn(alice2, 'alice');
    await signIn(bob, 'bob');
    const account = entra.account('alice');

    const res = await alice1.api(`${bff}/auth/logout`, { method: 'POST' });
    expect(res.status).toBe(200);
    const endSessionUrl = res.json().endSessionUrl as string;
    expect(endSessionUrl.startsWith(`${bff}/auth/end-session?`)).toBe(true);
    const endSession = new URL((await alice1.get(endSessionUrl)).headers.location!);
    expect(`${endSession.origin}${endSession.pathname}`).toBe(`${entra.origin}/${entra.tenantId}/oauth2/v2.0/logout`);
    expect(endSession.searchParams.get('post_logout_redirect_uri')).toBe(`${bff}/`);
    expect(endSession.searchParams.get('logout_hint')).toBe(account.loginHint);
    expect(endSession.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(endSession.searchParams.has('id_token_hint')).toBe(false);
    await expectSignedOutEverywhere(account.homeAccountId, [alice1, alice2], bob);

    // The SPA navigates there: with logout_hint Entra asks nothing, ends that browser's session,
    // loads the front-channel URL with its sid and returns to the app.
    const { iframes, next } = signedOutPage(await alice1.get(endSession.toString()));
    expect(iframes).toEqual([`${bff}/auth/frontchannel-logout?sid=${alice1Sid}`]);
    expect(next).toBe(`${bff}/`);
    expect(entra.account('alice').sids).not.toContain(alice1Sid);
    expect(entra.account('alice').sids).toContain(alice2Sid);
    const [frame] = await loadIframes(iframes);
    expect(frame!.status).toBe(200);
    await expectSignedOutEverywhere(account.homeAccountId, [alice1, alice2], bob);
  });

  it('front-channel logout by sid alone, from Entra’s logout page with no cookie, ends every session of that user', async () => {
    const [alice1, alice2, bob] = [browser(), browser(), browser()];
    await signIn(alice1, 'alice');
    const { sid: alice2Sid } = await signIn(alice2, 'alice');
    await signIn(bob, 'bob');
    const account = entra.account('alice');
    const [refreshToken] = Object.values(tokenCache(account.homeAccountId).RefreshToken);

    // Alice signs out at Entra itself (from another app, or My Account) in her second browser:
    // no logout_hint, so Entra asks which account first.
    const picker = await alice2.get(env.stack.bff.idp.endSessionEndpoint!);
    const pick = /id="account" href="([^"]+)"/.exec(picker.body)?.[1]?.replace(/&#38;/g, '&');
    expect(pick).toBeDefined();
    const { iframes, next } = signedOutPage(await alice2.get(new URL(pick!, picker.url).toString()));
    expect(next).toBeUndefined();
    expect(iframes).toEqual([`${bff}/auth/frontchannel-logout?sid=${alice2Sid}`]);
    expect(new URL(iframes[0]!).searchParams.has('iss')).toBe(false);
    expect(entra.frontchannelLogoutUrls()).toEqual([`${bff}/auth/frontchannel-logout`]);
    // Nothing has reached the BFF yet: alice's first session still works.
    expect((await alice1.api(`${bff}/api/me`)).status).toBe(200);

    const [frame] = await loadIframes(iframes);
    expect(frame!.status).toBe(200);
    expect(frame!.headers['content-security-policy']).toContain(`frame-ancestors ${entra.origin}`);
    await expectSignedOutEverywhere(account.homeAccountId, [alice1, alice2], bob);

    // Entra revokes nothing: the refresh token the BFF held still works there, which is why
    // the BFF deletes its copy.
    const redeem = await browser().post(`${entra.origin}/${entra.tenantId}/oauth2/v2.0/token`, {
      form: { grant_type: 'refresh_token', refresh_token: refreshToken!.secret, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, scope: 'api://sample-api/access_as_user offline_access' },
    });
    expect(redeem.status).toBe(200);
  });

  it('has back-channel logout off by default: Entra has none, and the route does not exist', async () => {
    expect(JSON.parse(env.stack.bff.idp.metadataJson)).not.toHaveProperty('backchannel_logout_supported');
    const res = await browser().post(`${bff}/auth/backchannel-logout`, { form: { logout_token: 'a.b.c' } });
    expect(res.status).toBe(404);
  });
});

describe('the Entra emulator refuses what Entra refuses', () => {
  const app = { clientId: 'c0ffee00-0000-4000-8000-000000000001', clientSecret: 'emulator-self-test-secret', redirectUris: ['http://localhost:5199/callback', 'http://localhost:5199/'] };
  let entra: EntraEmulator;
  beforeAll(async () => {
    entra = await startEntraEmulator();
    entra.registerApplication(app);
  });
  afterAll(() => entra?.close());

  const endpoint = (name: string) => `${entra.origin}/${entra.tenantId}/oauth2/v2.0/${name}`;
  const redeem = (form: Record<string, string>) =>
    new TestBrowser(entra.ca).post(endpoint('token'), { form: { grant_type: 'authorization_code', client_id: app.clientId, client_secret: app.clientSecret, redirect_uri: app.redirectUris[0]!, ...form } });

  /** Authorization code + PKCE as a browser and an app do it; returns the code and what goes with it. */
  async function authorizeCode(browser: TestBrowser, extra: Record<string, string> = {}) {
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(endpoint('authorize'));
    url.search = new URLSearchParams({
      client_id: app.clientId,
      response_type: 'code',
      redirect_uri: app.redirectUris[0]!,
      scope: 'openid profile offline_access api://sample-api/access_as_user',
      state: 'st',
      nonce: 'n-0S6_WzA2Mj',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      client_info: '1',
      ...extra,
    }).toString();
    let res = await browser.get(url.toString());
    if (res.status === 200 && res.body.includes('<form')) {
      const form = parseForm(res.body, res.url);
      res = await browser.post(form.action, { form: { ...form.fields, username: 'alice', password: 'password' } });
    }
    return { res, verifier, back: res.headers.location ? new URL(res.headers.location) : undefined };
  }

  it('checks the PKCE verifier, redeems a code once, and answers Entra-shaped tokens', async () => {
    const browser = new TestBrowser(entra.ca);
    const first = await authorizeCode(browser);
    const wrong = await redeem({ code: first.back!.searchParams.get('code')!, code_verifier: randomBytes(32).toString('base64url') });
    expect(wrong.status).toBe(400);
    expect(wrong.json()).toMatchObject({ error: 'invalid_grant', error_codes: [501481] });

    const second = await authorizeCode(browser);
    expect(second.back!.searchParams.get('state')).toBe('st');
    const code = second.back!.searchParams.get('code')!;
    const ok = await redeem({ code, code_verifier: second.verifier, scope: 'openid profile offline_access api://sample-api/access_as_user', client_info: '1' });
    expect(ok.status).toBe(200);
    const body = ok.json();
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'api://sample-api/access_as_user', expires_in: 3599, ext_expires_in: 3599 });
    expect(typeof body.refresh_token).toBe('string');
    const { oid, tid, sids, loginHint } = entra.account('alice');
    expect(JSON.parse(Buffer.from(body.client_info, 'base64url').toString())).toEqual({ uid: oid, utid: tid });
    const id = decodeJwt(body.id_token);
    expect(id).toMatchObject({ aud: app.clientId, iss: entra.issuer, oid, tid, nonce: 'n-0S6_WzA2Mj', login_hint: loginHint, sid: second.back!.searchParams.get('session_state') });
    expect(sids).toContain(id.sid);
    expect(id.sub).not.toBe(oid);
    expect(decodeProtectedHeader(body.access_token)).toMatchObject({ typ: 'JWT', alg: 'RS256' });
    expect(decodeJwt(body.access_token)).toMatchObject({ aud: 'api://sample-api', iss: entra.issuer, scp: 'access_as_user', oid, tid });

    const again = await redeem({ code, code_verifier: second.verifier });
    expect(again.json()).toMatchObject({ error: 'invalid_grant', error_codes: [54005] });
  });

  it('rejects a wrong client secret with 401 invalid_client', async () => {
    const { back, verifier } = await authorizeCode(new TestBrowser(entra.ca));
    const res = await redeem({ code: back!.searchParams.get('code')!, code_verifier: verifier, client_secret: 'not-the-secret' });
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
  });

  it('shows an unregistered redirect URI on its own page and never redirects there', async () => {
    const { res } = await authorizeCode(new TestBrowser(entra.ca), { redirect_uri: 'https://evil.example/callback' });
    expect(res.status).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.body).toContain('AADSTS50011');
  });

  it('ends the session at sign-out, but goes on only to a registered post_logout_redirect_uri', async () => {
    const browser = new TestBrowser(entra.ca);
    await authorizeCode(browser);
    const { loginHint, sids } = entra.account('alice');
    const url = new URL(endpoint('logout'));
    url.search = new URLSearchParams({ post_logout_redirect_uri: 'https://evil.example/', logout_hint: loginHint }).toString();
    const page = await browser.get(url.toString());
    expect(page.status).toBe(200);
    expect(page.body).toContain('You signed out of your account');
    expect(page.body).not.toContain('evil.example');
    expect(entra.account('alice').sids).toHaveLength(sids.length - 1);
    // The emulator session is gone: the next sign-in shows the form again.
    const next = await browser.get(`${endpoint('authorize')}?${new URLSearchParams({ client_id: app.clientId, response_type: 'code', redirect_uri: app.redirectUris[0]!, scope: 'openid' })}`);
    expect(next.body).toContain('<form');
  });
});

describe('an Entra tenant whose ID tokens carry no sid (the optional claim was never added)', () => {
  let entra: EntraEmulator;
  let env: Inspectable;
  let bff: string;
  const lines: string[] = [];

  beforeAll(async () => {
    entra = await startEntraEmulator({ sidClaim: false });
    env = await startInspectableStack(
      { ENTRA_TENANT_ID: entra.tenantId, ENTRA_CLIENT_ID: CLIENT_ID, ENTRA_CLIENT_SECRET: CLIENT_SECRET, ENTRA_CLOUD_INSTANCE: entra.origin, OIDC_CA_FILE: entra.caFile },
      { logger: createLogger((line) => void lines.push(line)) },
    );
    bff = env.stack.url;
    entra.registerApplication({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${bff}/auth/callback`, `${bff}/`], frontchannelLogoutUrl: `${bff}/auth/frontchannel-logout` });
  });
  afterAll(async () => {
    await env?.stack.close();
    await entra?.close();
  });

  /** Signs in through Entra's form; returns the authorization response's session_state. */
  async function signIn(browser: TestBrowser, username: string): Promise<string> {
    const login = await browser.get(`${bff}/auth/login`);
    let res = await browser.get(login.headers.location!);
    if (res.status === 200) {
      const form = parseForm(res.body, res.url);
      res = await browser.post(form.action, { form: { ...form.fields, username, password: 'password' } });
    }
    const back = new URL(res.headers.location!);
    expect((await browser.get(back.toString())).status).toBe(302);
    return back.searchParams.get('session_state')!;
  }

  it("front-channel logout still finds the user by the authorization response's session_state, and the log names the claim to add", async () => {
    const [alice, bob] = [new TestBrowser(entra.ca), new TestBrowser(entra.ca)];
    const sessionState = await signIn(alice, 'alice');
    await signIn(bob, 'bob');
    const account = entra.account('alice');
    expect(decodeJwt(Object.values(env.tokenCacheOf(account.homeAccountId)!.IdToken)[0]!.secret).sid).toBeUndefined();
    const warning = lines.map((l) => JSON.parse(l)).find((e) => e.event === 'auth.sid_from_session_state');
    expect(warning?.message).toContain("optional claim 'sid'");

    const [frame] = await loadIframes([`${bff}/auth/frontchannel-logout?sid=${sessionState}`]);
    expect(frame!.body).toContain('Signed out.');
    expect((await alice.api(`${bff}/auth/session`)).json()).toEqual({ isAuthenticated: false });
    expect(env.keys(`tokens:${userKey(account.homeAccountId)}`)).toEqual([]);
    expect((await bob.api(`${bff}/api/me`)).status).toBe(200);
  });
});
