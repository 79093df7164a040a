import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '../support/processes';
import { redisAvailable, redisReader, REDIS_TEST_URL } from '../support/redis';
import { startStack } from '../support/stack';
import { startTcpProxy } from '../support/tcp-proxy';

const hasRedis = await redisAvailable();

/** A stack on the test Redis reached through a TCP proxy the test can silence; its keys removed after. */
async function behindProxy(label: string, test: (setup: { proxy: Awaited<ReturnType<typeof startTcpProxy>>; stack: Awaited<ReturnType<typeof startStack>> }) => Promise<void>) {
  const { hostname, port } = new URL(REDIS_TEST_URL);
  const proxy = await startTcpProxy({ host: hostname, port: Number(port || 6379) });
  const prefix = uniquePrefix(label);
  const stack = await startStack({ REDIS_URL: proxy.url, REDIS_KEY_PREFIX: prefix });
  try {
    await test({ proxy, stack });
  } finally {
    await stack.close();
    await proxy.close();
    const redis = await redisReader();
    await redis.deleteAll(`${prefix}*`);
    await redis.close();
  }
}

describe.skipIf(!hasRedis)('a connection to Redis that goes silent (packets dropped, no reset)', () => {
  it('is noticed and replaced: serving again within 5 s of the stall, 503 with Retry-After meanwhile, never a 500', async () => {
    await behindProxy('silent', async ({ proxy, stack }) => {
      const alice = stack.browser();
      await stack.signIn(alice, 'alice');
      expect((await alice.api(`${stack.url}/api/me`)).status).toBe(200);

      expect(proxy.silenceExisting()).toBeGreaterThan(0);
      const stalledAt = Date.now();
      const answers: { status: number; retryAfter?: string; error?: string }[] = [];
      let recoveredAfterMs: number | undefined;
      while (Date.now() - stalledAt < 15_000) {
        const res = await alice.api(`${stack.url}/api/me`);
        answers.push({ status: res.status, retryAfter: res.headers['retry-after'] as string | undefined, error: res.status === 200 ? undefined : res.json().error });
        if (res.status === 200 && answers.length > 1) {
          recoveredAfterMs = Date.now() - stalledAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      if (process.env.STALL_REPORT) console.log({ recoveredAfterMs, answers: answers.length });
      expect(recoveredAfterMs).toBeDefined();
      expect(recoveredAfterMs!).toBeLessThan(5_000);
      for (const a of answers.filter((a) => a.status !== 200)) expect(a).toEqual({ status: 503, retryAfter: '1', error: 'store_unavailable' });
      // Still alice's session: nothing was lost.
      expect((await alice.api(`${stack.url}/auth/session`)).json().isAuthenticated).toBe(true);
    });
  }, 30_000);

  it('a connection that goes silent during its handshake is replaced too: serving again within 5 s of the network coming back', async () => {
    await behindProxy('silent-handshake', async ({ proxy, stack }) => {
      const alice = stack.browser();
      await stack.signIn(alice, 'alice');
      // The connection in use, and every new one for 4.5 s (the reconnections), accept bytes and never answer.
      const SILENT_MS = 4500;
      proxy.silenceAllFor(SILENT_MS);
      const backAt = Date.now() + SILENT_MS;
      const statuses: number[] = [];
      let recoveredAfterMs: number | undefined;
      while (Date.now() - backAt < 15_000) {
        const res = await alice.api(`${stack.url}/api/me`);
        statuses.push(res.status);
        if (res.status === 200 && Date.now() > backAt) {
          recoveredAfterMs = Date.now() - backAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(new Set(statuses.slice(0, -1))).toEqual(new Set([503]));
      expect(recoveredAfterMs).toBeDefined();
      expect(recoveredAfterMs!).toBeLessThan(5_000);
    });
  }, 40_000);
});
