import { describe, expect, it } from 'vitest';
import { startTokenCacheRead, TokenCacheClient } from '../../server/auth/token-cache';
import { generateTokenCacheKey, TokenSealer } from '../../server/auth/token-encryption';
import { Tombstones } from '../../server/logout/tombstones';
import type { Store } from '../../server/stores/store';

/** A Map-backed store: a fake is fine inside a unit test of one module. */
function mapStore<T>(): Store<T> & { map: Map<string, T> } {
  const map = new Map<string, T>();
  return {
    map,
    get: async (k) => map.get(k),
    set: async (k, v) => void map.set(k, v),
    delete: async (k) => void map.delete(k),
  };
}

const sealer = new TokenSealer([generateTokenCacheKey()]);

describe('token cache writes and the sign-out tombstone', () => {
  it('answers an empty string on a miss and for the key of a sign-in without a user yet', async () => {
    const client = new TokenCacheClient(mapStore<string>(), new Tombstones(mapStore(), 1000), sealer, 1000);
    expect(await client.get('unknown')).toBe('');
    expect(await client.get('')).toBe('');
  });

  it('keeps a write when no sign-out happened since the first read', async () => {
    const tokens = mapStore<string>();
    const tombstones = new Tombstones(mapStore(), 1000);
    await tombstones.write('u1', Date.now() - 10_000);
    const client = new TokenCacheClient(tokens, tombstones, sealer, 1000);
    await client.get('u1');
    await client.set('u1', 'fresh tokens');
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('fresh tokens');
  });

  it('removes what it wrote when the user signed out after the first read (a refresh in flight)', async () => {
    const tokens = mapStore<string>();
    const tombstones = new Tombstones(mapStore(), 1000);
    tokens.map.set('u1', sealer.seal('old tokens', 'u1'));
    const client = new TokenCacheClient(tokens, tombstones, sealer, 1000);
    await client.get('u1');
    // The sign-out lands while the refresh is at the IdP.
    await tombstones.write('u1', Date.now() + 1);
    tokens.map.delete('u1');
    await client.set('u1', 'refreshed tokens');
    expect(tokens.map.has('u1')).toBe(false);
  });

  it('judges by the first read, not a later one', async () => {
    const tokens = mapStore<string>();
    const tombstones = new Tombstones(mapStore(), 1000);
    const client = new TokenCacheClient(tokens, tombstones, sealer, 1000);
    await client.get('u1');
    const signedOutAt = Date.now() + 1;
    await tombstones.write('u1', signedOutAt);
    while (Date.now() <= signedOutAt) await new Promise((r) => setTimeout(r, 1));
    await client.get('u1'); // MSAL reads the cache more than once in one call
    await client.set('u1', 'refreshed tokens');
    expect(tokens.map.has('u1')).toBe(false);
  });

  it('never writes under an empty key', async () => {
    const tokens = mapStore<string>();
    const client = new TokenCacheClient(tokens, new Tombstones(mapStore(), 1000), sealer, 1000);
    await client.set('', 'x');
    expect(tokens.map.size).toBe(0);
  });

  it('counts a read started alongside the session check from its start: a sign-out after it removes the write', async () => {
    const tokens = mapStore<string>();
    const tombstones = new Tombstones(mapStore(), 1000);
    tokens.map.set('u1', sealer.seal('old tokens', 'u1'));
    const read = startTokenCacheRead(tokens, 'u1');
    // The sign-out lands after the read was issued but before MSAL asks for the entry.
    await tombstones.write('u1', read.startedAt);
    const client = new TokenCacheClient(tokens, tombstones, sealer, 1000, read);
    expect(await client.get('u1')).toBe('old tokens');
    await client.set('u1', 'refreshed tokens');
    expect(tokens.map.has('u1')).toBe(false);
  });

  it('answers only the first get from the read started earlier, later ones from the store', async () => {
    const tokens = mapStore<string>();
    tokens.map.set('u1', sealer.seal('first', 'u1'));
    const read = startTokenCacheRead(tokens, 'u1');
    const client = new TokenCacheClient(tokens, new Tombstones(mapStore(), 1000), sealer, 1000, read);
    tokens.map.set('u1', sealer.seal('second', 'u1'));
    expect(await client.get('u1')).toBe('first');
    expect(await client.get('u1')).toBe('second');
  });

  it("undoes a write when the tombstone changed since the session check, even if the sign-out's clock is behind", async () => {
    const tokens = mapStore<string>();
    const tombstones = new Tombstones(mapStore(), 1000);
    await tombstones.write('u1', 1_000);
    const read = { homeAccountId: 'u1', startedAt: Date.now(), sealed: Promise.resolve(undefined), tombstoneSeen: 1_000 };
    const client = new TokenCacheClient(tokens, tombstones, sealer, 1000, read);
    await client.get('u1');
    // Another instance, its clock an hour behind, signs the user out during the refresh.
    await tombstones.write('u1', Date.now() - 3_600_000);
    await client.set('u1', 'refreshed tokens');
    expect(tokens.map.has('u1')).toBe(false);
  });

  it('keeps a write when the tombstone is the one the session check saw', async () => {
    const tokens = mapStore<string>();
    const tombstones = new Tombstones(mapStore(), 1000);
    await tombstones.write('u1', Date.now() + 60_000); // a clock ahead: no matter, the value is unchanged
    const read = { homeAccountId: 'u1', startedAt: Date.now(), sealed: Promise.resolve(undefined), tombstoneSeen: (await tombstones.signedOutAt('u1'))! };
    const client = new TokenCacheClient(tokens, tombstones, sealer, 1000, read);
    await client.get('u1');
    await client.set('u1', 'refreshed tokens');
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('refreshed tokens');
  });
});
