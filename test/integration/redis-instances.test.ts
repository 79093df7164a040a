import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userKey } from '../../server/stores/user-slot';
import { TestBrowser, type Response } from '../support/browser';
import { Child, freePort, startBffProcess, startIdpProcess, startInstancePair, startRedisServer, stopInstancePair, testSealer, type IdpProcess, type InstancePair } from '../support/processes';
import { redisAvailable, type RedisReader } from '../support/redis';
import { redisServerAvailable, standaloneTopology, startRedisCluster, type RedisTopology } from '../support/redis-topologies';
import { JWT_PATTERN, loadIframes, signInAt, signOutAtIdp, withExpiredAccessTokens } from '../support/stack';

const hasRedis = await redisAvailable();
const hasRedisServer = redisServerAvailable();

/** Who alice is, as the sample API sees her (her sub is her MSAL homeAccountId here). */
async function whoAmI(browser: TestBrowser, bffUrl: string): Promise<string> {
  const me = await browser.api(`${bffUrl}/api/me`);
  expect(me.status).toBe(200);
  return me.json().sub as string;
}

/** The same behaviour on each Redis deployment the BFF supports with REDIS_URL. */
const topologies: { sharing: string; runnable: boolean; start: () => Promise<RedisTopology> }[] = [
  { sharing: 'one Redis', runnable: hasRedis, start: async () => standaloneTopology() },
  // Every key of one user lives in one hash slot, so no command of the BFF spans two nodes.
  { sharing: 'one Redis Cluster (3 masters, 3 replicas)', runnable: hasRedisServer, start: startRedisCluster },
];

for (const { sharing, runnable, start } of topologies) describe.skipIf(!runnable)(`two BFF processes sharing ${sharing} and one dev IdP`, () => {
  let topology: RedisTopology;
  let idp: IdpProcess;
  let a: { child: Child; url: string };
  let b: { child: Child; url: string };
  let prefix: string;
  let redis: RedisReader;

  beforeAll(async () => {
    topology = await start();
    // The IdP delivers back-channel and front-channel logout to A, the first origin it registers.
    ({ idp, a, b, prefix, redis } = await startInstancePair('instances', {}, topology));
  }, 60_000);

  afterAll(async () => {
    await stopInstancePair({ idp, a, b, prefix, redis });
    await topology?.stop();
  });

  const browser = () => new TestBrowser(idp.ca);

  /** Redis holds no key of this user's tokens or sessions. */
  async function expectNothingOfUserInRedis(userId: string) {
    expect(await redis.keys(`${prefix}tokens:${userKey(userId)}`)).toEqual([]);
    const sessions = await redis.dump(`${prefix}sessions:*`);
    expect([...sessions.values()].filter((v) => v.includes(userId))).toEqual([]);
  }

  async function expectRejectedOnBoth(browsers: TestBrowser[]) {
    for (const br of browsers) {
      for (const url of [a.url, b.url]) {
        expect((await br.api(`${url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
        expect((await br.api(`${url}/api/me`)).status).toBe(401);
      }
    }
  }

  it('names the OpenID provider in use in its start-up banner, not the embedded dev IdP', () => {
    for (const instance of [a, b]) {
      const banner = instance.child.output.find((l) => l.includes('BFF ready at'));
      expect(banner).toContain(`signing in with the OpenID provider ${idp.issuer}`);
      expect(banner).not.toContain('alice / password');
    }
  });

  it('keeps its keys under the prefix, each with a TTL, and no token in plain text', async () => {
    const alice = browser();
    await signInAt(alice, a.url, 'alice');
    const aliceId = await whoAmI(alice, a.url);
    const keys = await redis.keys(`${prefix}*`);
    const values = [...(await redis.dump(`${prefix}*`)).values()].join('\n');
    const cache = JSON.parse(testSealer().open(JSON.parse((await redis.get(`${prefix}tokens:${userKey(aliceId)}`))!).value, aliceId));
    expect(values).not.toMatch(JWT_PATTERN);
    expect(values).not.toContain(Object.values(cache.RefreshToken as Record<string, { secret: string }>)[0]!.secret);
    expect(keys.some((k) => k.startsWith(`${prefix}sessions:`))).toBe(true);
    expect(keys.some((k) => k.startsWith(`${prefix}tokens:`))).toBe(true);
    expect(keys.some((k) => k.startsWith(`${prefix}logout:sid:`))).toBe(true);
    for (const key of keys) expect(await redis.pTTL(key)).toBeGreaterThan(0);
  });

  it('a session created on A works on B; a sign-out through B (SPA) ends it on both before B answers', async () => {
    const alice = browser();
    const bob = browser();
    await signInAt(alice, a.url, 'alice');
    await signInAt(bob, b.url, 'bob');
    const aliceId = await whoAmI(alice, b.url);
    expect((await alice.api(`${b.url}/auth/session`)).json().user.username).toBe('alice');
    // A second copy of alice's cookie, which the logout response does not clear.
    const stolen = browser();
    await stolen.jar.setCookie(`bff.sid=${await alice.cookie(a.url, 'bff.sid')}`, a.url);
    await stolen.jar.setCookie(`bff.sid.sig=${await alice.cookie(a.url, 'bff.sid.sig')}`, a.url);

    expect((await alice.api(`${b.url}/auth/logout`, { method: 'POST' })).status).toBe(200);
    await expectRejectedOnBoth([alice, stolen]);
    await expectNothingOfUserInRedis(aliceId);
    expect(await whoAmI(bob, a.url)).not.toBe(aliceId);
  });

  it('a back-channel logout received by A ends a session that lives on B', async () => {
    const alice = browser();
    await signInAt(alice, b.url, 'alice');
    const aliceId = await whoAmI(alice, b.url);
    const other = browser();
    await signInAt(other, b.url, 'alice');
    // Signing out at the IdP: its back-channel call goes to A (front-channel iframes not loaded).
    await signOutAtIdp(alice, `${idp.issuer}/session/end`);
    await expectRejectedOnBoth([alice, other]);
    await expectNothingOfUserInRedis(aliceId);
  });

  it('a front-channel logout received by B ends a session signed in through A', async () => {
    const alice = browser();
    await signInAt(alice, a.url, 'alice');
    const aliceId = await whoAmI(alice, a.url);
    const sidKey = (await redis.dump(`${prefix}logout:sid:*`)).entries();
    const sid = [...sidKey].find(([, v]) => v.includes(aliceId))![0].split(' ').pop()!;
    const [res] = await loadIframes([`${b.url}/auth/frontchannel-logout?sid=${encodeURIComponent(sid)}`]);
    expect(res!.status).toBe(200);
    await expectRejectedOnBoth([alice]);
    await expectNothingOfUserInRedis(aliceId);
  });

  it('under load (200 calls over both instances) no call that starts after the sign-out returned succeeds', async () => {
    const alice = browser();
    await signInAt(alice, a.url, 'alice');
    const aliceId = await whoAmI(alice, a.url);
    const sid = [...(await redis.dump(`${prefix}logout:sid:*`)).entries()].find(([, v]) => v.includes(aliceId))![0].split(' ').pop()!;

    let signedOutAt = Number.POSITIVE_INFINITY;
    const calls: Promise<{ startedAt: number; status: number }>[] = [];
    for (let i = 0; i < 200; i++) {
      const url = i % 2 === 0 ? a.url : b.url;
      calls.push(
        new Promise((r) => setTimeout(r, i * 8)).then(async () => {
          const startedAt = performance.now();
          const res: Response = await alice.api(`${url}/api/me`);
          return { startedAt, status: res.status };
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 400));
    const [out] = await loadIframes([`${b.url}/auth/frontchannel-logout?sid=${encodeURIComponent(sid)}`]);
    signedOutAt = performance.now();
    expect(out!.status).toBe(200);
    const results = await Promise.all(calls);
    const after = results.filter((r) => r.startedAt > signedOutAt);
    const before = results.filter((r) => r.startedAt <= signedOutAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((r) => r.status !== 401)).toEqual([]);
    expect(before.some((r) => r.status === 200)).toBe(true);
    for (const r of results) expect([200, 401]).toContain(r.status);
    await expectNothingOfUserInRedis(aliceId);
  });

  it('fifty parallel API calls with an expired access token on one instance cause one refresh', async () => {
    const bob = browser();
    await signInAt(bob, a.url, 'bob');
    const bobId = await whoAmI(bob, a.url);
    const key = `${prefix}tokens:${userKey(bobId)}`;
    const sealer = testSealer();
    const stored = JSON.parse((await redis.get(key))!);
    const cache = withExpiredAccessTokens(JSON.parse(sealer.open(stored.value, bobId)));
    await redis.set(key, JSON.stringify({ ...stored, value: sealer.seal(JSON.stringify(cache), bobId) }), { KEEPTTL: true });

    const before = idp.refreshGrants();
    const results = await Promise.all(Array.from({ length: 50 }, () => bob.api(`${a.url}/api/me`)));
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200));
    await idp.child.waitFor(() => (idp.refreshGrants() > before ? true : undefined), 'the refresh grant to be logged');
    expect(idp.refreshGrants() - before).toBe(1);
  });
});

describe.skipIf(!hasRedis)('refresh tokens that rotate with reuse detection, two instances refreshing one user', () => {
  let pair: InstancePair;

  beforeAll(async () => {
    // The dev IdP rotates refresh tokens and revokes the grant when a rotated one is used again.
    pair = await startInstancePair('rotation', { DEV_IDP_ROTATE_REFRESH_TOKENS: '1' });
  }, 60_000);

  afterAll(() => stopInstancePair(pair ?? {}));

  it('20 rounds of 50 parallel calls on each instance with an expired access token: one refresh grant per round, nobody signed out', async () => {
    const { idp, a, b, prefix, redis } = pair;
    const alice = new TestBrowser(idp.ca);
    await signInAt(alice, a.url, 'alice');
    const aliceId = await whoAmI(alice, a.url);
    const key = `${prefix}tokens:${userKey(aliceId)}`;
    const sealer = testSealer();
    const grantsPerRound: number[] = [];
    for (let round = 0; round < 20; round++) {
      const stored = JSON.parse((await redis.get(key))!);
      const cache = withExpiredAccessTokens(JSON.parse(sealer.open(stored.value, aliceId)));
      await redis.set(key, JSON.stringify({ ...stored, value: sealer.seal(JSON.stringify(cache), aliceId) }), { KEEPTTL: true });
      const before = idp.refreshGrants();
      const calls = [a.url, b.url].flatMap((url) => Array.from({ length: 50 }, () => alice.api(`${url}/api/me`)));
      const statuses = (await Promise.all(calls)).map((r) => r.status);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      await idp.child.waitFor(() => (idp.refreshGrants() > before ? true : undefined), 'the refresh grant to be logged');
      grantsPerRound.push(idp.refreshGrants() - before);
    }
    expect(grantsPerRound).toEqual(Array(20).fill(1));
    expect(idp.grantErrors()).toEqual([]);
    expect((await alice.api(`${b.url}/auth/session`)).json().isAuthenticated).toBe(true);
  }, 120_000);
});

describe.skipIf(!hasRedis)('a Redis outage during traffic', () => {
  it('answers 503 while Redis is down, never crashes, recovers by itself and revives no signed-out session', async () => {
    const port = await freePort();
    const idp = await startIdpProcess([`http://localhost:${port}`]);
    let redisServer = await startRedisServer();
    const bff = await startBffProcess(port, idp, { REDIS_URL: redisServer.url, REDIS_KEY_PREFIX: 'outage:' });
    try {
      const alice = new TestBrowser(idp.ca);
      const bob = new TestBrowser(idp.ca);
      await signInAt(alice, bff.url, 'alice');
      await signInAt(bob, bff.url, 'bob');
      expect((await bob.api(`${bff.url}/api/me`)).status).toBe(200);
      expect((await alice.api(`${bff.url}/auth/logout`, { method: 'POST' })).status).toBe(200);
      // alice's old cookie, kept: it must stay dead across the outage.
      const aliceCookie = new TestBrowser(idp.ca);
      const statuses: number[] = [];

      await redisServer.child.stop('SIGKILL');
      const down = await bob.api(`${bff.url}/api/me`);
      expect(down.status).toBe(503);
      expect(down.json().error).toBe('store_unavailable');
      expect((await bob.api(`${bff.url}/auth/session`)).status).toBe(503);
      expect((await bob.get(`${bff.url}/readyz`)).status).toBe(503);
      expect((await bob.get(`${bff.url}/healthz`)).status).toBe(200);
      for (let i = 0; i < 10; i++) statuses.push((await bob.api(`${bff.url}/api/me`)).status);
      expect(new Set(statuses)).toEqual(new Set([503]));
      expect(bff.child.alive).toBe(true);

      redisServer = await startRedisServer(redisServer.port, redisServer.dir);
      let back: Response | undefined;
      for (let i = 0; i < 200 && back?.status !== 200; i++) {
        back = await bob.api(`${bff.url}/api/me`);
        if (back.status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(back!.status).toBe(200);
      expect((await bob.get(`${bff.url}/readyz`)).status).toBe(200);
      expect((await alice.api(`${bff.url}/api/me`)).status).toBe(401);
      expect((await aliceCookie.api(`${bff.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
      expect(bff.child.alive).toBe(true);
    } finally {
      await Promise.all([bff.child.stop(), idp.child.stop()]);
      await redisServer.child.stop();
    }
  }, 60_000);
});
