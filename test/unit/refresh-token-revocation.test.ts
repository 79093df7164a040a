import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenSealer } from '../../server/auth/token-encryption';
import { createOutbound } from '../../server/http/outbound';
import { createLogger } from '../../server/log';
import { RefreshTokenRevocation, type RevocationOptions } from '../../server/logout/revocation';
import { createStores, type Stores } from '../../server/stores';
import { REDIS_TEST_URL, redisAvailable } from '../support/redis';

/**
 * logout/revocation.ts on its own: two instances sharing one store (as two BFFs share Redis), a
 * revocation endpoint on loopback that records what it is sent and answers as told.
 */
const ISSUER = 'https://idp.example';
const USER = 'alice-home-account-id';
const sealer = new TokenSealer([{ id: 'k1', key: Buffer.alloc(32, 7) }]);

/** A token cache entry as MSAL serializes it, sealed as the token store holds it. */
const sealedEntry = (...refreshTokens: string[]) =>
  sealer.seal(JSON.stringify({ RefreshToken: Object.fromEntries(refreshTokens.map((secret, i) => [`k${i}`, { home_account_id: USER, secret }])) }), USER);

let endpoint: Awaited<ReturnType<typeof startEndpoint>>;
let events: Record<string, unknown>[];
const instances: RefreshTokenRevocation[] = [];
const memory = new Map<string, unknown>();
const outbound = createOutbound();

const hasRedis = await redisAvailable();
const opened: Stores[] = [];

/** An instance over the shared in-memory Map, or over Redis (as two BFFs share it) with `logout`. */
function instance(options: Partial<RevocationOptions> = {}, revocationEndpoint: string | null = endpoint.url, logout = createStores({}, { memory }).logout) {
  const log = createLogger((line) => events.push(JSON.parse(line)));
  const revocation = new RefreshTokenRevocation({ revocationEndpoint: revocationEndpoint ?? undefined, clientId: 'bff', credential: { kind: 'client_secret_post', secret: 'secret' } } as never, outbound, logout, sealer, log, { deadlineMs: 60_000, ...options });
  instances.push(revocation);
  return revocation;
}

const outcomes = () => events.filter((e) => e.event === 'auth.revocation').map((e) => e.outcome);

async function until(done: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) if (done()) return;
  throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
}

beforeEach(async () => {
  events = [];
  memory.clear();
  endpoint = await startEndpoint();
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.close()));
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await endpoint.close();
});

describe('refresh-token revocation (RFC 7009)', () => {
  it('a sign-out started in the SPA is held until the IdP confirms; confirmed on two instances at once, the token is revoked exactly once', async () => {
    const [a, b] = [instance(), instance()];
    a.signedOut({ homeAccountId: USER, path: 'spa', sealedEntry: sealedEntry('rt-1'), sessions: [{ issuer: ISSUER, sid: 'sid-1' }] });
    await until(() => outcomes().includes('pending'), 'the pending entry');
    expect(endpoint.tokens).toEqual([]);
    // What is held is sealed: the token is nowhere in the store in the clear.
    expect([...memory.values()].some((v) => String(v).includes('rt-1'))).toBe(false);

    // The IdP's logout call reaches both instances (a retry, a second channel): one revokes.
    const user = await b.userBySid(ISSUER, 'sid-1');
    expect(user).toBe(USER);
    a.idpSignedOut(USER, 'frontchannel');
    b.idpSignedOut(USER, 'backchannel');
    await until(() => outcomes().includes('revoked'), 'the revocation');
    await new Promise((r) => setTimeout(r, 50));
    expect(endpoint.tokens).toEqual(['rt-1']);
    expect(outcomes().filter((o) => o === 'revoked')).toHaveLength(1);
    expect([...memory.keys()].filter((k) => k.startsWith('logout:revoke:'))).toEqual([]);
  });

  it.skipIf(!hasRedis)('over Redis, two instances with their own connections: confirmed on both at once, the token is revoked exactly once', async () => {
    const prefix = `revocation-test-${process.pid}-${Date.now()}:`;
    const redis = () => {
      const stores = createStores({ redis: { kind: 'standalone', url: REDIS_TEST_URL }, redisKeyPrefix: prefix });
      opened.push(stores);
      return stores.logout;
    };
    const [a, b] = [instance({}, endpoint.url, redis()), instance({}, endpoint.url, redis())];
    a.signedOut({ homeAccountId: USER, path: 'spa', sealedEntry: sealedEntry('rt-1'), sessions: [{ issuer: ISSUER, sid: 'sid-1' }] });
    await until(() => outcomes().includes('pending'), 'the pending entry');
    expect(await b.userBySid(ISSUER, 'sid-1')).toBe(USER);
    a.idpSignedOut(USER, 'frontchannel');
    b.idpSignedOut(USER, 'backchannel');
    await until(() => outcomes().includes('revoked'), 'the revocation');
    await new Promise((r) => setTimeout(r, 50));
    expect(endpoint.tokens).toEqual(['rt-1']);
    expect(outcomes().filter((o) => o === 'revoked')).toHaveLength(1);
  });

  it('two sign-outs from the SPA before the IdP confirms (the user signed in again between them): both tokens are revoked on the confirmation', async () => {
    const [a, b] = [instance(), instance()];
    a.signedOut({ homeAccountId: USER, path: 'spa', sealedEntry: sealedEntry('rt-1'), sessions: [{ issuer: ISSUER, sid: 'sid-1' }] });
    await until(() => outcomes().filter((o) => o === 'pending').length === 1, 'the first pending entry');
    b.signedOut({ homeAccountId: USER, path: 'spa', sealedEntry: sealedEntry('rt-2'), sessions: [{ issuer: ISSUER, sid: 'sid-2' }] });
    await until(() => outcomes().filter((o) => o === 'pending').length === 2, 'the second pending entry');
    a.idpSignedOut(USER, 'backchannel');
    await until(() => endpoint.tokens.length === 2, 'both revocations');
    expect(endpoint.tokens.sort()).toEqual(['rt-1', 'rt-2']);
  });

  it('a sign-out the IdP reported revokes at once, with token_type_hint and the client\'s authentication', async () => {
    instance().signedOut({ homeAccountId: USER, path: 'backchannel', sealedEntry: sealedEntry('rt-1'), sessions: [] });
    await until(() => outcomes().includes('revoked'), 'the revocation');
    expect(Object.fromEntries(endpoint.forms[0]!)).toEqual({ token: 'rt-1', token_type_hint: 'refresh_token', client_id: 'bff', client_secret: 'secret' });
  });

  it('a 400 (unsupported_token_type) is logged as refused and not retried', async () => {
    endpoint.answers.push(400);
    instance({ retryDelaysMs: [10, 10] }).signedOut({ homeAccountId: USER, path: 'backchannel', sealedEntry: sealedEntry('rt-1'), sessions: [] });
    await until(() => outcomes().includes('refused'), 'the refusal');
    expect(events.find((e) => e.outcome === 'refused')).toMatchObject({ reason: 'HTTP 400 unsupported_token_type', attempts: 1 });
    expect(endpoint.forms).toHaveLength(1);
  });

  it('a revocation endpoint that keeps failing is tried a bounded number of times, then the failure is logged', async () => {
    endpoint.answers.push(503, 502, 500);
    instance({ retryDelaysMs: [10, 10] }).signedOut({ homeAccountId: USER, path: 'frontchannel', sealedEntry: sealedEntry('rt-1'), sessions: [] });
    await until(() => outcomes().includes('failed'), 'the failure');
    expect(outcomes()).toEqual(['retrying', 'retrying', 'failed']);
    expect(endpoint.forms).toHaveLength(3);
    expect(JSON.stringify(events)).not.toContain('rt-1');
  });

  it('an IdP without a revocation endpoint (Entra): nothing is held, sent or logged', async () => {
    const none = instance({}, null);
    expect(none.enabled).toBe(false);
    none.signedOut({ homeAccountId: USER, path: 'spa', sealedEntry: sealedEntry('rt-1'), sessions: [{ issuer: ISSUER, sid: 'sid-1' }] });
    none.signedOut({ homeAccountId: USER, path: 'backchannel', sealedEntry: sealedEntry('rt-1'), sessions: [] });
    await new Promise((r) => setTimeout(r, 50));
    expect([memory.size, endpoint.forms.length, events.length]).toEqual([0, 0, 0]);
  });

  it('close() ends the deadlines and the retries: nothing is sent after it', async () => {
    endpoint.answers.push(503);
    const a = instance({ deadlineMs: 100, retryDelaysMs: [60_000] });
    a.signedOut({ homeAccountId: USER, path: 'backchannel', sealedEntry: sealedEntry('rt-1'), sessions: [] });
    a.signedOut({ homeAccountId: 'bob', path: 'spa', sealedEntry: sealer.seal(JSON.stringify({ RefreshToken: { k: { secret: 'rt-bob' } } }), 'bob'), sessions: [] });
    await until(() => outcomes().includes('retrying') && outcomes().includes('pending'), 'a retry and a deadline under way');
    await a.close();
    await until(() => outcomes().at(-1) === 'failed', 'the retry to give up');
    await new Promise((r) => setTimeout(r, 200));
    expect(endpoint.tokens).toEqual(['rt-1']);
  });
});

/** A revocation endpoint on loopback: answers the statuses in `answers` first, then 200. */
async function startEndpoint() {
  const forms: URLSearchParams[] = [];
  const answers: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      forms.push(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      const status = answers.shift() ?? 200;
      const error = status === 400 ? 'unsupported_token_type' : 'temporarily_unavailable';
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '' : JSON.stringify({ error }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/revoke`,
    forms,
    answers,
    get tokens() {
      return forms.map((f) => f.get('token'));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
