import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '../support/processes';
import { redisAvailable, redisReader, REDIS_TEST_URL } from '../support/redis';
import { startStack } from '../support/stack';

const hasRedis = await redisAvailable();

describe.skipIf(!hasRedis)('a sign-out that no replica confirms', () => {
  it('is not claimed: 503 store_unavailable with Retry-After (the caller tries again), and it is logged with its reason', async () => {
    // The shared test Redis has no replica: asking for one confirmation can never be met.
    const prefix = uniquePrefix('unreplicated');
    const lines: Record<string, unknown>[] = [];
    const logger = { info: () => {}, warn: (event: string, fields: Record<string, unknown>) => void lines.push({ event, ...fields }), error: () => {} };
    const stack = await startStack({ REDIS_URL: REDIS_TEST_URL, REDIS_KEY_PREFIX: prefix, REDIS_SIGNOUT_REPLICAS: '1' }, { logger: logger as never });
    try {
      const alice = stack.browser();
      await stack.signIn(alice, 'alice');
      const out = await alice.api(`${stack.url}/auth/logout`, { method: 'POST' });
      expect(out.status).toBe(503);
      expect(out.headers['retry-after']).toBe('1');
      expect(out.json().error).toBe('store_unavailable');
      expect(lines.find((l) => l.event === 'auth.signout_unreplicated')).toMatchObject({ path: 'spa', reason: expect.stringMatching(/^0 of 1 replicas confirmed/) });
    } finally {
      await stack.close();
      const redis = await redisReader();
      await redis.deleteAll(`${prefix}*`);
      await redis.close();
    }
  });
});
