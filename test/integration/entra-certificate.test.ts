import { createHash, X509Certificate } from 'node:crypto';
import { createPrivateKey, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientAuthentication, JWT_BEARER_ASSERTION_TYPE, signClientAssertion } from '../../server/identity/client-credential';
import type { CertificateCredential } from '../../server/identity/client-keys';
import { parseForm, TestBrowser } from '../support/browser';
import { clientCertificate, keyFolder, privateKeyPem, writeKeyFile } from '../support/client-keys';
import { startEntraEmulator, type EntraEmulator } from '../support/entra-emulator';
import { everythingReceived, JWT_PATTERN, startInspectableStack, withExpiredAccessTokens } from '../support/stack';

/**
 * The BFF in Entra ID mode with a certificate credential (ENTRA_CLIENT_CERTIFICATE_*), against
 * the Entra emulator with the app registered by that certificate: MSAL signs the client
 * assertions (clientCertificate), the emulator verifies them as Entra does.
 */

const CLIENT_ID = '0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';

type Inspectable = Awaited<ReturnType<typeof startInspectableStack>>;

describe('Entra ID mode with a certificate credential', () => {
  let entra: EntraEmulator;
  let certificate: { keyPem: string; certPem: string };
  let files: { key: string; cert: string };
  const stacks: Inspectable[] = [];
  let tokenEndpoint: string;

  beforeAll(async () => {
    entra = await startEntraEmulator();
    certificate = await clientCertificate();
    const dir = keyFolder();
    files = { key: writeKeyFile(dir, 'key.pem', certificate.keyPem), cert: writeKeyFile(dir, 'cert.pem', certificate.certPem) };
    tokenEndpoint = `${entra.origin}/${entra.tenantId}/oauth2/v2.0/token`;
  });
  afterAll(async () => {
    for (const env of stacks) await env.stack.close();
    await entra?.close();
  });

  /** A BFF with the certificate given by `certificateVars`, and an app registered with that certificate (no secret). */
  async function bffWithCertificate(clientId: string, certificateVars: Record<string, string>) {
    const env = await startInspectableStack({
      ENTRA_TENANT_ID: entra.tenantId,
      ENTRA_CLIENT_ID: clientId,
      ENTRA_CLIENT_CERTIFICATE_KEY_FILE: files.key,
      ...certificateVars,
      ENTRA_CLOUD_INSTANCE: entra.origin,
      OIDC_CA_FILE: entra.caFile,
    });
    stacks.push(env);
    entra.registerApplication({ clientId, certificate: certificate.certPem, redirectUris: [`${env.stack.url}/auth/callback`, `${env.stack.url}/`] });
    return env;
  }

  async function signIn(bff: string, browser: TestBrowser, username: string) {
    let res = await browser.get((await browser.get(`${bff}/auth/login`)).headers.location!);
    if (res.status === 200) {
      const form = parseForm(res.body, res.url);
      res = await browser.post(form.action, { form: { ...form.fields, username, password: 'password' } });
    }
    expect(res.status).toBe(302);
    return browser.get(res.headers.location!);
  }

  /** Signs alice in, calls the API, then again with her access token expired: a code grant and a refresh grant. */
  async function signInCallAndRefresh(env: Inspectable) {
    const bff = env.stack.url;
    const alice = new TestBrowser(entra.ca);
    expect((await signIn(bff, alice, 'alice')).status).toBe(302);
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    const homeAccountId = entra.account('alice').homeAccountId;
    const before = Object.values(env.tokenCacheOf(homeAccountId)!.AccessToken)[0]!.secret;
    env.setTokenCache(homeAccountId, withExpiredAccessTokens(env.tokenCacheOf(homeAccountId)!));
    expect((await alice.api(`${bff}/api/me`)).status).toBe(200);
    expect(Object.values(env.tokenCacheOf(homeAccountId)!.AccessToken)[0]!.secret).not.toBe(before);
    expect(everythingReceived(alice)).not.toMatch(JWT_PATTERN);
  }

  const der = () => new X509Certificate(certificate.certPem).raw;
  const thumbprint = (alg: 'sha256' | 'sha1') => createHash(alg).update(der()).digest();

  it('signs in, calls the API and refreshes with a certificate from PEM files: PS256, x5t#S256 and the x5c chain, aud the token endpoint', async () => {
    const from = entra.clientAssertions.length;
    await signInCallAndRefresh(await bffWithCertificate(CLIENT_ID, { ENTRA_CLIENT_CERTIFICATE_FILE: files.cert }));
    const sent = entra.clientAssertions.slice(from);
    expect(sent).toHaveLength(2);
    for (const { header, payload } of sent) {
      expect(header).toMatchObject({ alg: 'PS256', 'x5t#S256': thumbprint('sha256').toString('base64url'), x5c: [der().toString('base64')] });
      expect(payload).toMatchObject({ iss: CLIENT_ID, sub: CLIENT_ID, aud: tokenEndpoint });
    }
    expect(entra.tokenRequests.slice(-2).map((r) => r.grantType)).toEqual(['authorization_code', 'refresh_token']);
  });

  it('signs in with the certificate named by its SHA-1 thumbprint alone (the portal’s): RS256 and x5t, no x5c', async () => {
    const clientId = randomUUID();
    const from = entra.clientAssertions.length;
    const hex = thumbprint('sha1').toString('hex').toUpperCase().match(/../g)!.join(':');
    await signInCallAndRefresh(await bffWithCertificate(clientId, { ENTRA_CLIENT_CERTIFICATE_THUMBPRINT: hex }));
    const sent = entra.clientAssertions.slice(from);
    expect(sent).toHaveLength(2);
    for (const { header } of sent) {
      expect(header).toMatchObject({ alg: 'RS256', x5t: thumbprint('sha1').toString('base64url') });
      expect(header).not.toHaveProperty('x5c');
    }
  });

  describe('the emulator’s token endpoint', () => {
    let credential: CertificateCredential;
    beforeAll(() => {
      const idpCredential = stacks[0]!.stack.bff.idp.credential;
      if (idpCredential.kind !== 'certificate') throw new Error('the first BFF has no certificate credential');
      credential = idpCredential;
    });

    /** A refresh grant with an unknown refresh token: client authentication is checked first. */
    const tokenRequest = (fields: Record<string, string>) =>
      new TestBrowser(entra.ca).post(tokenEndpoint, { form: { grant_type: 'refresh_token', refresh_token: 'unknown', scope: 'openid', ...fields } });
    const withAssertion = (assertion: string) => tokenRequest({ client_id: CLIENT_ID, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: assertion });
    const expectRefused = async (res: Awaited<ReturnType<typeof tokenRequest>>, aadsts: number) => {
      expect(res.status).toBe(401);
      expect(res.json()).toMatchObject({ error: 'invalid_client', error_codes: [aadsts] });
    };
    /** An assertion shaped as the BFF's, with `change` applied before signing. */
    const assertion = (change: { key?: string; aud?: string; iss?: string; exp?: number } = {}) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'PS256', typ: 'JWT', 'x5t#S256': thumbprint('sha256').toString('base64url') })
        .setIssuer(change.iss ?? CLIENT_ID)
        .setSubject(change.iss ?? CLIENT_ID)
        .setAudience(change.aud ?? tokenEndpoint)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime(change.exp ?? Math.floor(Date.now() / 1000) + 60)
        .sign(createPrivateKey(change.key ?? certificate.keyPem));

    it('accepts the BFF’s own assertion (clientAuthentication): authenticated, the grant is then refused as invalid_grant', async () => {
      const auth = await clientAuthentication({ clientId: CLIENT_ID, credential }, tokenEndpoint);
      const res = await tokenRequest(auth.fields);
      expect(res.status).toBe(400);
      expect(res.json().error).toBe('invalid_grant');
      expect((await withAssertion(await assertion())).json().error).toBe('invalid_grant');
    });

    it('refuses an assertion signed with another key under the registered thumbprint (AADSTS700027)', async () => {
      await expectRefused(await withAssertion(await assertion({ key: privateKeyPem({ rsa: 2048 }) })), 700027);
    });

    it('refuses a tampered assertion: claims changed after signing (AADSTS700027)', async () => {
      const [header, , signature] = (await signClientAssertion(credential, CLIENT_ID, tokenEndpoint)).split('.');
      const claims = { iss: CLIENT_ID, sub: 'someone-else', aud: tokenEndpoint, jti: randomUUID(), exp: Math.floor(Date.now() / 1000) + 60 };
      await expectRefused(await withAssertion(`${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`), 700027);
    });

    it('refuses an assertion for another audience (AADSTS50013), another issuer (AADSTS700021), or past its exp (AADSTS700024)', async () => {
      await expectRefused(await withAssertion(await assertion({ aud: `${entra.origin}/${entra.tenantId}/v2.0` })), 50013);
      await expectRefused(await withAssertion(await assertion({ iss: randomUUID() })), 700021);
      await expectRefused(await withAssertion(await assertion({ exp: Math.floor(Date.now() / 1000) - 600 })), 700024);
    });

    it('refuses an assertion whose jti was used before', async () => {
      const once = await assertion();
      expect((await withAssertion(once)).json().error).toBe('invalid_grant');
      await expectRefused(await withAssertion(once), 50027);
    });

    it('refuses a client secret for an app registered with a certificate (AADSTS7000215)', async () => {
      await expectRefused(await tokenRequest({ client_id: CLIENT_ID, client_secret: 'any-secret-at-all' }), 7000215);
    });
  });
});
