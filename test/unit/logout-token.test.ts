import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpError } from '../../server/errors';
import { createOutbound, type Outbound } from '../../server/http/outbound';
import { BACKCHANNEL_EVENT, logoutTokenVerifier } from '../../server/logout/logout-token';

const ISSUER = 'https://idp.test';
const CLIENT_ID = 'bff-client';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const logoutToken = (key: SigningKey) => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid: 'sid-1', jti: randomUUID(), events: { [BACKCHANNEL_EVENT]: {} } })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'logout+jwt' })
    .setIssuer(ISSUER)
    .setAudience(CLIENT_ID)
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .sign(key.privateKey);
};

/** The error a verification rejected with, or a failure when it resolved. */
async function rejection(pending: Promise<unknown>): Promise<HttpError> {
  const err = await pending.then(
    () => expect.fail('the token was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpError);
  return err as HttpError;
}

/** A JWKS endpoint on loopback: the test sets what it serves and counts how often it is asked. */
describe('logoutTokenVerifier and the IdP JWKS (unknown kid: refetch once, per cooldown)', () => {
  let server: http.Server;
  let jwksUri: string;
  let served: { keys: JWK[] };
  let requests = 0;
  let outbound: Outbound;
  let a: SigningKey;
  let b: SigningKey;
  let c: SigningKey;

  beforeAll(async () => {
    [a, b, c] = await Promise.all([signingKey('key-a'), signingKey('key-b'), signingKey('key-c')]);
    server = http.createServer((_req, res) => {
      requests++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    outbound = createOutbound();
    requests = 0;
    served = { keys: [a.publicJwk] };
  });
  afterEach(() => outbound.close());

  const verifier = (cooldownMs: number) => logoutTokenVerifier({ issuer: ISSUER, clientId: CLIENT_ID, jwksUri, outbound, cooldownMs });

  it('a kid missing from the cached JWKS refetches it exactly once and accepts the token when the new JWKS has the key', async () => {
    const verify = verifier(0);
    await expect(verify(await logoutToken(a))).resolves.toMatchObject({ sid: 'sid-1' });
    expect(requests).toBe(1);

    served = { keys: [a.publicJwk, b.publicJwk] };
    await expect(verify(await logoutToken(b))).resolves.toMatchObject({ sid: 'sid-1' });
    expect(requests).toBe(2);
    // The refetched set is cached: the known kids need no further request.
    await verify(await logoutToken(b));
    await verify(await logoutToken(a));
    expect(requests).toBe(2);
  });

  it('a kid still unknown after the refetch is 400 invalid_logout_token', async () => {
    const verify = verifier(0);
    await verify(await logoutToken(a));
    expect(requests).toBe(1);

    const err = await rejection(verify(await logoutToken(c)));
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_logout_token');
    expect(requests).toBe(2);
  });

  it('within the cooldown an unknown kid does not refetch and is 400 invalid_logout_token, even if the IdP has the key by now', async () => {
    const verify = verifier(60_000);
    await verify(await logoutToken(a));
    expect(requests).toBe(1);

    served = { keys: [a.publicJwk, b.publicJwk] };
    const err = await rejection(verify(await logoutToken(b)));
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_logout_token');
    const again = await rejection(verify(await logoutToken(c)));
    expect(again.code).toBe('invalid_logout_token');
    expect(requests).toBe(1);
  });
});

describe('logoutTokenVerifier when the JWKS cannot be fetched (the IdP must retry: 503, not 400)', () => {
  let outbound: Outbound;
  let key: SigningKey;

  beforeAll(async () => {
    key = await signingKey('key-a');
  });
  beforeEach(() => {
    outbound = createOutbound();
  });
  afterEach(() => outbound.close());

  const listen = async (handler: http.RequestListener) => {
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return { server, jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks` };
  };
  const close = (server: http.Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });

  it('a JWKS endpoint that is down (connection refused) is 503 upstream_unavailable', async () => {
    // A port that was just free: nothing listens on it any more.
    const { server, jwksUri } = await listen(() => {});
    await close(server);
    const verify = logoutTokenVerifier({ issuer: ISSUER, clientId: CLIENT_ID, jwksUri, outbound, cooldownMs: 0 });

    const err = await rejection(verify(await logoutToken(key)));
    expect(err.status).toBe(503);
    expect(err.code).toBe('upstream_unavailable');
  });

  it('a JWKS endpoint that never answers is 503 upstream_unavailable, within the 5 s JWKS timeout', { timeout: 20_000 }, async () => {
    const { server, jwksUri } = await listen(() => {});
    try {
      const verify = logoutTokenVerifier({ issuer: ISSUER, clientId: CLIENT_ID, jwksUri, outbound, cooldownMs: 0 });
      const started = Date.now();
      const err = await rejection(verify(await logoutToken(key)));
      expect(err.status).toBe(503);
      expect(err.code).toBe('upstream_unavailable');
      expect(Date.now() - started).toBeLessThan(7_000);
    } finally {
      await close(server);
    }
  });

  it('a JWKS endpoint that answers 500 is 503 upstream_unavailable', async () => {
    const { server, jwksUri } = await listen((_req, res) => {
      res.statusCode = 500;
      res.end('down for maintenance');
    });
    try {
      const verify = logoutTokenVerifier({ issuer: ISSUER, clientId: CLIENT_ID, jwksUri, outbound, cooldownMs: 0 });
      const err = await rejection(verify(await logoutToken(key)));
      expect(err.status).toBe(503);
      expect(err.code).toBe('upstream_unavailable');
    } finally {
      await close(server);
    }
  });
});
