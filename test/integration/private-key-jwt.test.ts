import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config';
import { DEV_BFF_CLIENT_SECRET, startDevIdp } from '../../server/dev-idp';
import { clientAuthentication, signClientAssertion, JWT_BEARER_ASSERTION_TYPE } from '../../server/identity/client-credential';
import type { PrivateKeyJwtCredential } from '../../server/identity/client-keys';
import { TestBrowser } from '../support/browser';
import { silentLogger } from '../../server/log';
import { startBff } from '../../server/start';
import { everythingReceived, JWT_PATTERN, signInAt, startInspectableStack, startStack, TEST_SESSION_KEY, withExpiredAccessTokens } from '../support/stack';

/**
 * The BFF authenticating with private_key_jwt (OIDC Core §9, RFC 7523) at the real dev IdP,
 * which has the BFF registered with token_endpoint_auth_method private_key_jwt and reads the
 * public key from the BFF's own /.well-known/jwks.json (DEV_IDP_CLIENT_AUTH=private_key_jwt).
 */
describe('private_key_jwt against the dev IdP', () => {
  let env: Awaited<ReturnType<typeof startInspectableStack>>;
  let credential: PrivateKeyJwtCredential;
  let metadata: { token_endpoint: string; revocation_endpoint: string; issuer: string };

  beforeAll(async () => {
    env = await startInspectableStack({ DEV_IDP_CLIENT_AUTH: 'private_key_jwt' });
    const { idp } = env.stack.bff;
    if (idp.credential.kind !== 'private_key_jwt') throw new Error(`the BFF has a ${idp.credential.kind} credential`);
    credential = idp.credential;
    metadata = JSON.parse(idp.metadataJson);
  });
  afterAll(() => env?.stack.close());

  const idpBrowser = () => new TestBrowser(env.stack.bff.devIdp!.ca);

  it('signs alice in, calls the API, and refreshes an expired access token, each grant authenticated by a client assertion', async () => {
    const browser = env.stack.browser();
    const callback = await env.stack.signIn(browser, 'alice');
    expect(callback.status).toBe(302);
    const me = await browser.api(`${env.stack.url}/api/me`);
    expect(me.status).toBe(200);
    const sub = me.json().sub as string;

    const before = Object.values(env.tokenCacheOf(sub)!.AccessToken)[0]!;
    env.setTokenCache(sub, withExpiredAccessTokens(env.tokenCacheOf(sub)!));
    expect((await browser.api(`${env.stack.url}/api/me`)).status).toBe(200);
    const refreshed = Object.values(env.tokenCacheOf(sub)!.AccessToken)[0]!;
    expect(refreshed.secret).not.toBe(before.secret);

    expect(everythingReceived(browser)).not.toMatch(JWT_PATTERN);
  });

  it('is refused a client secret: the dev IdP registered the BFF with private_key_jwt', async () => {
    const res = await idpBrowser().post(metadata.token_endpoint, {
      form: { grant_type: 'refresh_token', refresh_token: 'unknown', client_id: 'bff', client_secret: DEV_BFF_CLIENT_SECRET },
    });
    expect(res.status).toBe(401);
    expect(res.json().error).toBe('invalid_client');
  });

  it('publishes only the public key at /.well-known/jwks.json, under the kid its assertions carry', async () => {
    const res = await new TestBrowser().get(`${env.stack.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const jwks = res.json() as { keys: Record<string, string>[] };
    expect(jwks.keys).toHaveLength(1);
    const [key] = jwks.keys;
    expect(Object.keys(key!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(secret);
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: credential.kid });

    const assertion = await signClientAssertion(credential, 'bff', metadata.token_endpoint);
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'ES256', kid: credential.kid, typ: 'JWT' });
    const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks as never), { issuer: 'bff', subject: 'bff', audience: metadata.token_endpoint });
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('authenticates the BFF at the dev IdP’s revocation endpoint with an assertion for that endpoint (clientAuthentication)', async () => {
    const auth = await clientAuthentication(env.stack.bff.idp, metadata.revocation_endpoint);
    expect(auth.fields).toMatchObject({ client_id: 'bff', client_assertion_type: JWT_BEARER_ASSERTION_TYPE });
    expect(auth.fields).not.toHaveProperty('client_secret');
    expect(decodeJwt(auth.fields.client_assertion!).aud).toBe(metadata.revocation_endpoint);
    // RFC 7009 §2.2: an unknown token is a 200 once the client is authenticated.
    const res = await idpBrowser().post(metadata.revocation_endpoint, { form: { ...auth.fields, token: 'not-a-token' }, headers: auth.headers });
    expect(res.status).toBe(200);
  });

  it('an assertion signed with another key, or sent a second time, is refused with invalid_client', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const forged = await signClientAssertion({ ...credential, privateKeyPem: other }, 'bff', metadata.revocation_endpoint);
    const post = (assertion: string) =>
      idpBrowser().post(metadata.revocation_endpoint, { form: { client_id: 'bff', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: assertion, token: 'not-a-token' } });
    const refused = await post(forged);
    expect(refused.status).toBe(401);
    expect(refused.json().error).toBe('invalid_client');

    const genuine = (await clientAuthentication(env.stack.bff.idp, metadata.revocation_endpoint)).fields.client_assertion!;
    expect((await post(genuine)).status).toBe(200);
    const replayed = await post(genuine);
    expect(replayed.status).toBe(401);
    expect(replayed.json().error).toBe('invalid_client');
  });
});

describe('the client JWKS route with a client secret', () => {
  it('publishes nothing: /.well-known/jwks.json is 404 not_found', async () => {
    const stack = await startStack();
    try {
      const res = await new TestBrowser().get(`${stack.url}/.well-known/jwks.json`);
      expect(res.status).toBe(404);
      expect(res.json().error).toBe('not_found');
    } finally {
      await stack.close();
    }
  });
});

describe('private_key_jwt in OIDC mode (OIDC_CLIENT_KEY_FILE) at a dev IdP run alone, as `npm run idp` runs it', () => {
  it('signs alice in and calls the API with the key file the IdP made (DEV_IDP_CLIENT_AUTH=private_key_jwt), its public key read from the BFF’s JWKS', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, 'localhost', () => resolve()));
    const url = `http://localhost:${(server.address() as AddressInfo).port}`;
    const idp = await startDevIdp({ port: 0, bffOrigins: [url], clientAuth: 'private_key_jwt' });
    try {
      const config = loadConfig({
        PORT: url.split(':')[2]!,
        PUBLIC_URL: url,
        OIDC_AUTHORITY: idp.issuer,
        OIDC_CLIENT_ID: idp.clientId,
        OIDC_CLIENT_KEY_FILE: idp.clientKeyFile!,
        OIDC_CA_FILE: idp.caFile,
        SAMPLE_API_PORT: '0',
        SESSION_KEYS: TEST_SESSION_KEY,
        LOG_REQUESTS: '0',
      });
      expect(config.identity).toMatchObject({ kind: 'oidc', credential: { kind: 'private_key_jwt', alg: 'ES256' } });
      const bff = await startBff(config, { server, logger: silentLogger });
      try {
        const browser = new TestBrowser(idp.ca);
        expect((await signInAt(browser, url, 'alice')).status).toBe(302);
        expect((await browser.api(`${url}/api/me`)).json()).toMatchObject({ preferred_username: 'alice' });
      } finally {
        await bff.close();
      }
    } finally {
      await idp.close();
    }
  });
});
