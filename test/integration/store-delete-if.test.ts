import { afterAll, describe, expect, it } from 'vitest';
import { createStores, type Stores } from '../../server/stores';
import { redisAvailable, REDIS_TEST_URL } from '../support/redis';
import { uniquePrefix } from '../support/processes';

const hasRedis = await redisAvailable();

const backends: [string, () => Stores][] = [['in memory', () => createStores({})]];
if (hasRedis) backends.push(['on Redis', () => createStores({ redis: { kind: 'standalone', url: REDIS_TEST_URL }, redisKeyPrefix: uniquePrefix('delete-if') })]);

describe.each(backends)('conditional deletes and writes %s', (_, open) => {
  const stores = open();
  afterAll(() => stores.close());

  it('deletes an entry only while it holds the given value, for the token store (keyed by user) and the logout store', async () => {
    const cases: [string, { deleteIf(k: string, v: never): Promise<void>; setIf(k: string, e: never, v: never, ttl: number): Promise<boolean>; set(k: string, v: never, ttl?: number): Promise<void>; get(k: string): Promise<unknown> }, unknown, unknown][] = [
      ['tokens', stores.tokens, 'v1.k.sealed-one', 'v1.k.sealed-two'],
      ['logout', stores.logout, 'first', 'second'],
    ];
    for (const [name, store, mine, theirs] of cases) {
      const key = `${name}-user-${Math.random()}`;
      await store.set(key, theirs as never, 60_000);
      await store.deleteIf(key, mine as never);
      expect(await store.get(key), `${name}: another value stays`).toEqual(theirs);
      await store.deleteIf(key, theirs as never);
      expect(await store.get(key), `${name}: its own value goes`).toBeUndefined();
      await store.deleteIf(key, theirs as never);
      expect(await store.get(key)).toBeUndefined();
    }
    // A conditional write: over the value read, or over nothing; never over another value.
    for (const [name, store, mine, theirs] of cases) {
      const key = `${name}-set-if-${Math.random()}`;
      expect(await store.setIf(key, undefined as never, mine as never, 60_000)).toBe(true);
      expect(await store.get(key)).toEqual(mine);
      expect(await store.setIf(key, undefined as never, theirs as never, 60_000), `${name}: not over a value when nothing was expected`).toBe(false);
      expect(await store.setIf(key, theirs as never, theirs as never, 60_000), `${name}: not over another value`).toBe(false);
      expect(await store.get(key)).toEqual(mine);
      expect(await store.setIf(key, mine as never, theirs as never, 60_000)).toBe(true);
      expect(await store.get(key)).toEqual(theirs);
    }
    expect(await stores.logout.setIf('escaped-set', undefined, ':x', 60_000)).toBe(true);
    expect(await stores.logout.setIf('escaped-set', ':x', ':y', 60_000)).toBe(true);
    expect(await stores.logout.get('escaped-set')).toBe(':y');
    // Values that Keyv escapes when stored (a leading ':') compare as the caller wrote them.
    await stores.logout.set('escaped', ':colon', 60_000);
    await stores.logout.deleteIf('escaped', ':colon');
    expect(await stores.logout.get('escaped')).toBeUndefined();
  });
});
