import { describe, expect, it } from 'vitest';
import { adoptOrphanCredentials, startTokenCacheRead, TokenCacheClient, type SignOutGuard, type TokenCacheClientOptions } from '../../server/auth/token-cache';
import { generateTokenCacheKey, TokenSealer } from '../../server/auth/token-encryption';
import { silentLogger } from '../../server/log';
import { Tombstones } from '../../server/logout/tombstones';
import type { Store } from '../../server/stores/store';

/** A Map-backed store whose calls can be made to fail: a fake is fine inside a unit test of one module. */
function mapStore<T>(): Store<T> & { map: Map<string, T>; failing: Set<'get' | 'set' | 'delete'> } {
  const map = new Map<string, T>();
  const failing = new Set<'get' | 'set' | 'delete'>();
  const check = (op: 'get' | 'set' | 'delete') => {
    if (failing.has(op)) throw new Error(`store ${op} failed`);
  };
  return {
    map,
    failing,
    get: async (k) => (check('get'), map.get(k)),
    set: async (k, v) => (check('set'), void map.set(k, v)),
    delete: async (k) => (check('delete'), void map.delete(k)),
    deleteIf: async (k, v) => (check('delete'), void (map.get(k) === v && map.delete(k))),
    setIf: async (k, expected, v) => {
      check('set');
      if (map.get(k) !== expected) return false;
      map.set(k, v);
      return true;
    },
  };
}

const sealer = new TokenSealer([generateTokenCacheKey()]);

/** Tombstones on a store whose clock the test sets. */
function tombstonesAt(clock: { now: number }) {
  const store = mapStore<unknown>();
  return { store, tombstones: new Tombstones(store, 1000, async () => clock.now) };
}

function client(tokens: Store<string>, tombstones: Tombstones, guard: SignOutGuard | undefined, extra: Partial<TokenCacheClientOptions> = {}) {
  return new TokenCacheClient({ store: tokens, tombstones, sealer, ttlMs: 1000, log: silentLogger, guard, retryDelaysMs: [1, 1, 1], ...extra });
}

const settle = () => new Promise((r) => setTimeout(r, 20));

/** What `tokens` accepts from here on, opened: each compare-and-set that wrote. */
function writesTo(tokens: Store<string>): string[] {
  const written: string[] = [];
  const realSetIf = tokens.setIf;
  tokens.setIf = async (k, expected, v, ttl) => {
    const wrote = await realSetIf(k, expected, v, ttl);
    if (wrote) written.push(sealer.open(v, k));
    return wrote;
  };
  return written;
}

describe('token cache writes and the sign-out tombstone', () => {
  it('answers an empty string on a miss and for the key of a sign-in without a user yet', async () => {
    const { tombstones } = tombstonesAt({ now: 1 });
    const c = client(mapStore<string>(), tombstones, { tombstoneSeen: 0 });
    expect(await c.get('unknown')).toBe('');
    expect(await c.get('')).toBe('');
  });

  it('never writes under an empty key', async () => {
    const tokens = mapStore<string>();
    await client(tokens, tombstonesAt({ now: 1 }).tombstones, { tombstoneSeen: 0 }).set('', 'x');
    expect(tokens.map.size).toBe(0);
  });

  it('refuses a write that has no sign-out guard', async () => {
    const tokens = mapStore<string>();
    await expect(client(tokens, tombstonesAt({ now: 1 }).tombstones, undefined).set('u1', 'x')).rejects.toThrow(/guard/);
    expect(tokens.map.size).toBe(0);
  });

  it('keeps a refresh when the tombstone is the one the session check saw', async () => {
    const tokens = mapStore<string>();
    const { tombstones } = tombstonesAt({ now: 5_000 });
    await tombstones.write('u1');
    await client(tokens, tombstones, { tombstoneSeen: 5_000 }).set('u1', 'refreshed tokens');
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('refreshed tokens');
  });

  it('removes what a refresh wrote when the user signed out since the session check (a refresh in flight)', async () => {
    const tokens = mapStore<string>();
    const clock = { now: 1_000 };
    const { tombstones } = tombstonesAt(clock);
    tokens.map.set('u1', sealer.seal('old tokens', 'u1'));
    const c = client(tokens, tombstones, { tombstoneSeen: 0 });
    await c.get('u1');
    // The sign-out lands while the refresh is at the IdP.
    await tombstones.write('u1');
    tokens.map.delete('u1');
    await c.set('u1', 'refreshed tokens');
    expect(tokens.map.has('u1')).toBe(false);
  });

  it("undoes a refresh when the tombstone changed since the session check, whatever its time says", async () => {
    const tokens = mapStore<string>();
    const clock = { now: 1_000 };
    const { tombstones } = tombstonesAt(clock);
    await tombstones.write('u1');
    const c = client(tokens, tombstones, { tombstoneSeen: 1_000 });
    // A later sign-out whose time is earlier (the store's clock stepped back): still a new value.
    clock.now = 500;
    await tombstones.write('u1');
    await c.set('u1', 'refreshed tokens');
    expect(tokens.map.has('u1')).toBe(false);
  });

  it('undoes a sign-in whose code redemption a sign-out overtook, and keeps one that began after it', async () => {
    const tokens = mapStore<string>();
    const clock = { now: 10_000 };
    const { tombstones } = tombstonesAt(clock);
    // Sign-in began at 10 000 (store clock); the user signs out at 10 005, during the redemption.
    const overtaken = client(tokens, tombstones, { signInStartedAt: 10_000 });
    clock.now = 10_005;
    await tombstones.write('u1');
    await overtaken.set('u1', 'tokens of the overtaken sign-in');
    expect(tokens.map.has('u1')).toBe(false);
    // A sign-in that began after the sign-out keeps its tokens.
    await client(tokens, tombstones, { signInStartedAt: 10_006 }).set('u1', 'tokens of a later sign-in');
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('tokens of a later sign-in');
  });

  it("undoing an overtaken write removes only what that write stored, never a later sign-in's entry written meanwhile", async () => {
    const tokens = mapStore<string>();
    const clock = { now: 10_000 };
    const { tombstones } = tombstonesAt(clock);
    // The overtaken sign-in's tombstone check is slow: a later sign-in writes while it waits.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = { signedOutAt: async (id: string) => (await held, tombstones.signedOutAt(id)) } as Tombstones;
    const overtaken = client(tokens, slow, { signInStartedAt: 10_000 });
    clock.now = 10_005;
    await tombstones.write('u1');
    const undo = overtaken.set('u1', 'tokens of the overtaken sign-in');
    await settle();
    await client(tokens, tombstones, { signInStartedAt: 10_006 }).set('u1', 'tokens of a later sign-in');
    release();
    await undo;
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('tokens of a later sign-in');
  });

  it('a write delayed in transit does not replace what another request wrote since (a refresh held past a sign-out and the next sign-in)', async () => {
    const tokens = mapStore<string>();
    const { tombstones } = tombstonesAt({ now: 10_000 });
    tokens.map.set('u1', sealer.seal('old tokens', 'u1'));
    // The refresh's write leaves, and is held on the way to the store.
    let deliver!: () => void;
    const delivered = new Promise<void>((r) => (deliver = r));
    const realSetIf = tokens.setIf;
    let held = true;
    tokens.setIf = async (k, expected, v, ttl) => {
      if (held) {
        held = false;
        await delivered;
      }
      return realSetIf(k, expected, v, ttl);
    };
    const late = client(tokens, tombstones, { tombstoneSeen: 0 }).set('u1', 'refreshed before the sign-out');
    await settle();
    // Meanwhile: a sign-out, and a new sign-in that writes its own entry.
    await tombstones.write('u1');
    tokens.map.delete('u1');
    await client(tokens, tombstones, { signInStartedAt: 10_001 }).set('u1', 'tokens of the new sign-in');
    deliver();
    await late;
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('tokens of the new sign-in');
  });

  it.each([
    ['into the entry the sign-out deleted', false],
    ["over the user's next sign-in's entry, written in the same second", true],
  ])('a refresh that read the entry before a sign-out writes nothing after it: not %s', async (_, signedInAgain) => {
    const tokens = mapStore<string>();
    const { tombstones } = tombstonesAt({ now: 10_000 });
    tokens.map.set('u1', sealer.seal('old tokens', 'u1'));
    const refresh = client(tokens, tombstones, { tombstoneSeen: 0 });
    expect(await refresh.get('u1')).toBe('old tokens');
    // While the refresh is at the IdP: the sign-out, and maybe the next sign-in.
    await tombstones.write('u1');
    tokens.map.delete('u1');
    if (signedInAgain) await client(tokens, tombstones, { signInStartedAt: 10_001 }).set('u1', 'tokens of the new sign-in');
    const written = writesTo(tokens);
    await refresh.set('u1', 'refreshed before the sign-out');
    expect(written).toEqual([]);
    expect(tokens.map.has('u1') && sealer.open(tokens.map.get('u1')!, 'u1')).toBe(signedInAgain ? 'tokens of the new sign-in' : false);
  });

  it("a sign-in's redemption that a sign-out overtook writes nothing, not even over the user's next sign-in's entry", async () => {
    const tokens = mapStore<string>();
    const clock = { now: 10_001 };
    const { tombstones } = tombstonesAt(clock);
    // The first sign-in's callback began at 10_000; the sign-out came at 10_001; the next
    // sign-in began at 10_002 and has written its entry. Then the first redemption's write arrives.
    await tombstones.write('u1');
    await client(tokens, tombstones, { signInStartedAt: 10_002 }).set('u1', 'tokens of the next sign-in');
    const written = writesTo(tokens);
    await client(tokens, tombstones, { signInStartedAt: 10_000 }).set('u1', 'tokens of the overtaken sign-in');
    expect(written).toEqual([]);
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('tokens of the next sign-in');
  });

  it('a client whose second read found another value writes nothing: its cache mixes two states of the entry', async () => {
    const tokens = mapStore<string>();
    const { tombstones } = tombstonesAt({ now: 1 });
    tokens.map.set('u1', sealer.seal('first', 'u1'));
    const c = client(tokens, tombstones, { tombstoneSeen: 0 });
    await c.get('u1');
    tokens.map.set('u1', sealer.seal('second', 'u1'));
    await c.get('u1');
    await c.set('u1', 'first and second merged');
    expect(sealer.open(tokens.map.get('u1')!, 'u1')).toBe('second');
  });

  it('answers only the first get from the read started earlier, later ones from the store', async () => {
    const tokens = mapStore<string>();
    tokens.map.set('u1', sealer.seal('first', 'u1'));
    const read = startTokenCacheRead(tokens, 'u1');
    const c = client(tokens, tombstonesAt({ now: 1 }).tombstones, { tombstoneSeen: 0 }, { pending: read });
    tokens.map.set('u1', sealer.seal('second', 'u1'));
    expect(await c.get('u1')).toBe('first');
    expect(await c.get('u1')).toBe('second');
  });

  it.each([
    ['the tombstone re-read', 'logout get'],
    ['the delete after the re-read', 'tokens delete'],
    ['the write itself (it may have landed)', 'tokens set after landing'],
  ])('when the store fails at %s, tokens written after a sign-out are removed once it answers again', async (_, where) => {
    const tokens = mapStore<string>();
    const clock = { now: 1_000 };
    const { store: logout, tombstones } = tombstonesAt(clock);
    const c = client(tokens, tombstones, { tombstoneSeen: 0 });
    await c.get('u1'); // a refresh reads the entry first (here: none)
    await tombstones.write('u1'); // the sign-out overtook the refresh
    if (where === 'logout get') logout.failing.add('get');
    if (where === 'tokens delete') tokens.failing.add('delete');
    if (where === 'tokens set after landing') {
      const realSetIf = tokens.setIf;
      tokens.setIf = async (k, expected, v, ttl) => {
        await realSetIf(k, expected, v, ttl);
        throw new Error('timed out after landing');
      };
    }
    await expect(c.set('u1', 'refreshed tokens')).rejects.toThrow();
    expect(tokens.map.has('u1')).toBe(true); // the store is still failing
    logout.failing.clear();
    tokens.failing.clear();
    await settle();
    expect(tokens.map.has('u1')).toBe(false);
  });

  it('keeps retrying the check while the store is away, then logs that it could not vouch for the write', async () => {
    const tokens = mapStore<string>();
    const { store: logout, tombstones } = tombstonesAt({ now: 1 });
    logout.failing.add('get');
    const errors: string[] = [];
    const log = { ...silentLogger, error: (event: string) => void errors.push(event) };
    const refresh = client(tokens, tombstones, { tombstoneSeen: 0 }, { log });
    await refresh.get('u1');
    await expect(refresh.set('u1', 'tokens')).rejects.toThrow();
    await settle();
    expect(errors).toEqual(['token_cache.write_unchecked']);
  });
});

describe('credentials MSAL files under an empty home account id (a refresh response without an ID token)', () => {
  const entry = (home: string, extra: object = {}) => ({ home_account_id: home, environment: 'idp', client_id: 'bff', ...extra });
  const cache = {
    Account: { 'user-a-idp-': { home_account_id: 'User-A' } },
    AccessToken: {
      'user-a-idp-accesstoken-bff-api-s-': entry('User-A', { secret: 'old', cached_at: '1' }),
      '-idp-accesstoken-bff-api-s-': entry('', { secret: 'new', cached_at: '2' }),
    },
    RefreshToken: { '-idp-refreshtoken-bff--': entry('', { secret: 'rotated' }) },
    IdToken: { 'user-a-idp-idtoken-bff--': entry('User-A', { secret: 'id' }) },
  };

  it("are filed under the partition's user again, the newer replacing the older of the same key", () => {
    const adopted = JSON.parse(adoptOrphanCredentials(JSON.stringify(cache), 'User-A'));
    expect(adopted.AccessToken).toEqual({ 'user-a-idp-accesstoken-bff-api-s-': entry('User-A', { secret: 'new', cached_at: '2' }) });
    expect(adopted.RefreshToken).toEqual({ 'user-a-idp-refreshtoken-bff--': entry('User-A', { secret: 'rotated' }) });
    expect(adopted.IdToken).toEqual(cache.IdToken);
    expect(adopted.Account).toEqual(cache.Account);
  });

  it('leaves a cache without orphans, and an unreadable one, exactly as it was', () => {
    const clean = JSON.stringify({ ...cache, AccessToken: {}, RefreshToken: {} });
    expect(adoptOrphanCredentials(clean, 'User-A')).toBe(clean);
    expect(adoptOrphanCredentials('not json', 'User-A')).toBe('not json');
  });

  it('are adopted on every write', async () => {
    const tokens = mapStore<string>();
    await client(tokens, tombstonesAt({ now: 1 }).tombstones, { tombstoneSeen: 0 }).set('User-A', JSON.stringify(cache));
    expect(Object.keys(JSON.parse(sealer.open(tokens.map.get('User-A')!, 'User-A')).AccessToken)).toEqual(['user-a-idp-accesstoken-bff-api-s-']);
  });
});
