import { DistributedCachePlugin, type ICacheClient, type IPartitionManager } from '@azure/msal-node';
import type { Tombstones } from '../logout/tombstones';
import type { Store } from '../stores/store';
import type { TokenSealer } from './token-encryption';

/**
 * A read of one user's sealed token cache entry, started before MSAL asks for it: the API route
 * starts it together with the session's tombstone check, so both take one store round trip.
 * MSAL gets its value only after that check passed (DESIGN, invariant 2).
 */
export interface TokenCacheRead {
  homeAccountId: string;
  /** When the read was issued: the cut-off for the write-then-check of invariant 3. */
  startedAt: number;
  sealed: Promise<string | undefined>;
  /**
   * The user's tombstone as the request's session check saw it (0: none). When known, a write
   * is undone if the tombstone is no longer that value: a comparison of values, immune to clock
   * skew between instances, where comparing times would not be.
   */
  tombstoneSeen?: number;
}

export function startTokenCacheRead(store: Store<string>, homeAccountId: string): TokenCacheRead {
  const startedAt = Date.now();
  const sealed = store.get(homeAccountId);
  // Awaited later, or dropped when the session is refused: never an unhandled rejection.
  sealed.catch(() => {});
  return { homeAccountId, startedAt, sealed };
}

/**
 * MSAL's distributed cache over our token store: one serialized blob per user, keyed by
 * homeAccountId. Built per request (see msal-client.ts), so one client never holds two users.
 */
export class TokenCacheClient implements ICacheClient {
  /** When this client first read the cache: what it writes back is derived from that read. */
  private firstReadAt: number | undefined;
  private readonly tombstoneSeen: number | undefined;

  constructor(
    private readonly store: Store<string>,
    private readonly tombstones: Tombstones,
    private readonly sealer: TokenSealer,
    private readonly ttlMs: number,
    /** A read already under way for this request; it answers the first get of its key only. */
    private pending?: TokenCacheRead,
  ) {
    this.tombstoneSeen = pending?.tombstoneSeen;
  }

  /** Throws TokenCacheKeyError when the entry does not open (wrong or missing key). */
  async get(key: string): Promise<string> {
    // MSAL wants '' on a miss (FINDINGS); an empty key is a sign-in that has no user yet.
    if (!key) {
      this.firstReadAt ??= Date.now();
      return '';
    }
    let sealed: string | undefined;
    if (this.pending?.homeAccountId === key) {
      this.firstReadAt ??= this.pending.startedAt;
      sealed = await this.pending.sealed;
      // Later reads (MSAL reads again before writing a refresh) go to the store.
      this.pending = undefined;
    } else {
      this.firstReadAt ??= Date.now();
      sealed = await this.store.get(key);
    }
    return sealed ? this.sealer.open(sealed, key) : '';
  }

  /**
   * Write, then re-read the user's tombstone: if a sign-out happened since our first read (a
   * refresh in flight while the user signed out), remove what we wrote. Write-then-check on a
   * linearizable store leaves no window in which tokens come back (DESIGN, invariant 3).
   */
  async set(key: string, value: string): Promise<string> {
    if (!key) return 'OK';
    // Two instances refreshing at once: never replace newer tokens with older ones.
    const stored = await this.store.get(key);
    if (stored && newestTokenTime(this.openOrEmpty(stored, key)) > newestTokenTime(value)) return 'OK';
    await this.store.set(key, this.sealer.seal(value, key), this.ttlMs);
    const signedOutAt = await this.tombstones.signedOutAt(key);
    const signedOutSinceRead =
      this.tombstoneSeen !== undefined
        ? (signedOutAt ?? 0) !== this.tombstoneSeen
        : signedOutAt !== undefined && signedOutAt >= (this.firstReadAt ?? Date.now());
    if (signedOutSinceRead) await this.store.delete(key);
    return 'OK';
  }

  private openOrEmpty(sealed: string, key: string): string {
    try {
      return this.sealer.open(sealed, key);
    } catch {
      return '';
    }
  }
}

/** When the newest access token in a serialized MSAL cache was obtained (s), 0 if none. */
export function newestTokenTime(serialized: string): number {
  try {
    const cache = JSON.parse(serialized) as { AccessToken?: Record<string, { cached_at?: string }> };
    return Math.max(0, ...Object.values(cache.AccessToken ?? {}).map((t) => Number(t.cached_at) || 0));
  } catch {
    return 0;
  }
}

export class UserPartition implements IPartitionManager {
  constructor(private readonly homeAccountId: string | undefined) {}

  async getKey(): Promise<string> {
    return this.homeAccountId ?? '';
  }

  async extractKey(account: { homeAccountId: string }): Promise<string> {
    return account.homeAccountId;
  }
}

export function userCachePlugin(store: Store<string>, tombstones: Tombstones, sealer: TokenSealer, ttlMs: number, homeAccountId?: string, pending?: TokenCacheRead) {
  return new DistributedCachePlugin(new TokenCacheClient(store, tombstones, sealer, ttlMs, pending), new UserPartition(homeAccountId));
}
