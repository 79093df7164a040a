import { describe, expect, it } from 'vitest';
import { OpenedEntries } from '../../server/auth/opened-entries';
import { generateTokenCacheKey, TokenSealer } from '../../server/auth/token-encryption';

const sealer = new TokenSealer([generateTokenCacheKey()]);
const T0 = 1_800_000_000_000;

/** A serialized MSAL cache with one access token expiring `expiresIn` s after T0, padded to about `size` characters. */
function entry(user: string, expiresIn = 3600, size = 0) {
  const at = { credential_type: 'AccessToken', home_account_id: user, secret: `at-of-${user}`, expires_on: String(T0 / 1000 + expiresIn) };
  return JSON.stringify({ AccessToken: { k: at }, Padding: 'p'.repeat(size) });
}

describe('opened token cache entries', () => {
  it('open a sealed value once: the same value again is served from memory, a new value (any write) is opened afresh', () => {
    let opens = 0;
    const counting = { open: (s: string, u: string) => (opens++, sealer.open(s, u)) } as TokenSealer;
    const cache = new OpenedEntries(counting, { now: () => T0 });
    const sealed = sealer.seal(entry('alice'), 'alice');
    const first = cache.open(sealed, 'alice');
    expect(cache.open(sealed, 'alice')).toBe(first);
    expect(opens).toBe(1);
    expect(first.accessTokens.map((at) => at.secret)).toEqual(['at-of-alice']);
    // Sealing the very same content again gives a new value (fresh IV): a miss.
    cache.open(sealer.seal(entry('alice'), 'alice'), 'alice');
    expect(opens).toBe(2);
  });

  it("never serves one user's entry to another: the binding is checked as on every open", () => {
    const cache = new OpenedEntries(sealer, { now: () => T0 });
    const sealed = sealer.seal(entry('alice'), 'alice');
    cache.open(sealed, 'alice');
    expect(() => cache.open(sealed, 'mallory')).toThrow(/does not open/);
  });

  it('hands out frozen entities, so no request can change what the next one reads', () => {
    const cache = new OpenedEntries(sealer, { now: () => T0 });
    const opened = cache.open(sealer.seal(entry('alice'), 'alice'), 'alice');
    expect(Object.isFrozen(opened.accessTokens)).toBe(true);
    expect(Object.isFrozen(opened.accessTokens[0])).toBe(true);
  });

  it('keeps at most maxEntries and maxBytes, least recently used out first', () => {
    const cache = new OpenedEntries(sealer, { now: () => T0, maxEntries: 3 });
    const sealed = ['a', 'b', 'c', 'd'].map((u) => [u, sealer.seal(entry(u), u)] as const);
    for (const [u, s] of sealed.slice(0, 3)) cache.open(s, u);
    cache.open(sealed[0]![1], 'a'); // a is now the most recently used
    cache.open(sealed[3]![1], 'd'); // b goes
    expect(cache.size.entries).toBe(3);
    const bySize = new OpenedEntries(sealer, { now: () => T0, maxBytes: 100_000 });
    for (let i = 0; i < 20; i++) bySize.open(sealer.seal(entry(`u${i}`, 3600, 10_000), `u${i}`), `u${i}`);
    expect(bySize.size.bytes).toBeLessThanOrEqual(100_000);
    expect(bySize.size.entries).toBeGreaterThan(0);
    const off = new OpenedEntries(sealer, { now: () => T0, maxBytes: 0 });
    off.open(sealer.seal(entry('a'), 'a'), 'a');
    expect(off.size).toEqual({ entries: 0, bytes: 0 });
  });

  it('drops an entry once its last access token has expired: at use, and by the sweep', () => {
    let now = T0;
    const cache = new OpenedEntries(sealer, { now: () => now });
    const short = sealer.seal(entry('a', 60), 'a');
    cache.open(short, 'a');
    const long = sealer.seal(entry('b', 3600), 'b');
    cache.open(long, 'b');
    cache.open(sealer.seal(entry('c', -10), 'c'), 'c'); // already expired: not kept
    expect(cache.size.entries).toBe(2);
    now = T0 + 61_000;
    expect(cache.sweep()).toBe(1);
    expect(cache.size.entries).toBe(1);
    now = T0 + 3_601_000;
    expect(cache.open(long, 'b').accessTokens).toHaveLength(1);
    expect(cache.size.entries).toBe(0);
  });
});
