import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userKey } from '../../server/stores/user-slot';
import { TestBrowser } from '../support/browser';
import { Child, freePort, startBffProcess, startIdpProcess, uniquePrefix, type IdpProcess } from '../support/processes';
import { redisAvailable, redisReader, REDIS_TEST_URL } from '../support/redis';
import { signInAt } from '../support/stack';

const hasRedis = await redisAvailable();

/** A Node flag that sets this process's clock `ms` off: Date.now is what the BFF reads. */
const clockOff = (ms: number) => ['--import', `data:text/javascript,const now=Date.now;Date.now=()=>now()+(${ms});`];

/**
 * Sessions are compared with tombstones by the shared store's clock (Redis TIME), never by the
 * clocks of the instances that wrote them: skew between instances cannot keep a session alive.
 * The sign-out's own bookkeeping is made to miss the session (as a lost update of the user's
 * session list would), so the tombstone comparison is the only thing that can end it.
 */
describe.skipIf(!hasRedis)('BFF instances whose clocks disagree, on one Redis', () => {
  let idp: IdpProcess;
  const instances: Record<'ahead' | 'exact' | 'behind', { child: Child; url: string }> = {} as never;
  let prefix: string;
  let redis: Awaited<ReturnType<typeof redisReader>>;

  beforeAll(async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    idp = await startIdpProcess(ports.map((p) => `http://localhost:${p}`), { DEV_IDP_FRONTCHANNEL: '0', DEV_IDP_BACKCHANNEL: '0' });
    prefix = uniquePrefix('skew');
    const env = { REDIS_URL: REDIS_TEST_URL, REDIS_KEY_PREFIX: prefix };
    [instances.ahead, instances.exact, instances.behind] = await Promise.all([
      startBffProcess(ports[0]!, idp, env, clockOff(10_000)),
      startBffProcess(ports[1]!, idp, env),
      startBffProcess(ports[2]!, idp, env, clockOff(-10_000)),
    ]);
    redis = await redisReader();
  }, 150_000);

  afterAll(async () => {
    await Promise.all([...Object.values(instances).map((i) => i.child.stop()), idp?.child.stop()]);
    if (redis) {
      await redis.deleteAll(`${prefix}*`);
      await redis.close();
    }
  });

  it.each([
    ['ahead', 'exact'],
    ['behind', 'exact'],
    ['exact', 'ahead'],
    ['exact', 'behind'],
  ] as const)('a session made on the instance whose clock is %s dies at a sign-out on the one whose clock is %s, even one its bookkeeping missed', async (signedInOn, signedOutOn) => {
    const on = instances[signedInOn];
    const other = instances[signedOutOn];
    const victim = new TestBrowser(idp.ca);
    await signInAt(victim, on.url, 'alice');
    const me = await victim.api(`${on.url}/api/me`);
    expect(me.status).toBe(200);
    const aliceId = me.json().sub as string;
    // The sign-out happens within the skew of the sign-in, from a second session on the other instance.
    const signingOut = new TestBrowser(idp.ca);
    await signInAt(signingOut, other.url, 'alice');
    await redis.deleteAll(`${prefix}logout:sessions:${userKey(aliceId)}`);
    expect((await signingOut.api(`${other.url}/auth/logout`, { method: 'POST' })).status).toBe(200);

    for (const instance of Object.values(instances)) {
      expect((await victim.api(`${instance.url}/auth/session`)).json()).toEqual({ isAuthenticated: false });
      expect((await victim.api(`${instance.url}/api/me`)).status).toBe(401);
    }
  });
});
