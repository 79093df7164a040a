import { DistributedCachePlugin, type ICacheClient, type IPartitionManager } from '@azure/msal-node';
import type { Logger } from '../log';
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
  sealed: Promise<string | undefined>;
}

/**
 * How a token cache write tells that a sign-out overtook it (DESIGN, invariant 3). Both compare
 * values read from the shared store, never two instances' clocks:
 * - `tombstoneSeen`: the user's tombstone as this request's session check read it (0: none);
 *   the write is undone if the tombstone is no longer that value (a refresh on the API path);
 * - `signInStartedAt`: the store's clock when a sign-in's callback began, before the code was
 *   redeemed; the write is undone if the user's tombstone is at or after it.
 */
export type SignOutGuard = { tombstoneSeen: number } | { signInStartedAt: number };

export function startTokenCacheRead(store: Store<string>, homeAccountId: string): TokenCacheRead {
  const sealed = store.get(homeAccountId);
  // Awaited later, or dropped when the session is refused: never an unhandled rejection.
  sealed.catch(() => {});
  return { homeAccountId, sealed };
}

/** Whether the tombstone read after a write says a sign-out overtook it. */
export function overtakenBySignOut(guard: SignOutGuard, signedOutAt: number | undefined): boolean {
  return 'tombstoneSeen' in guard ? (signedOutAt ?? 0) !== guard.tombstoneSeen : signedOutAt !== undefined && signedOutAt >= guard.signInStartedAt;
}

export interface TokenCacheClientOptions {
  store: Store<string>;
  tombstones: Tombstones;
  sealer: TokenSealer;
  ttlMs: number;
  log: Logger;
  /** Without a guard nothing is written: a write nobody can check is refused. */
  guard?: SignOutGuard;
  /** A read already under way for this request; it answers the first get of its key only. */
  pending?: TokenCacheRead;
  /** Retries of the after-write check when the store failed during it (ms between tries). */
  retryDelaysMs?: readonly number[];
}

const CLEANUP_RETRY_DELAYS_MS = [250, 1000, 2000, 4000, 8000, 15000];

/**
 * MSAL's distributed cache over our token store: one serialized blob per user, keyed by
 * homeAccountId. Built per request (see msal-client.ts), so one client never holds two users.
 */
export class TokenCacheClient implements ICacheClient {
  private pending?: TokenCacheRead;
  /**
   * What this client's first read of the user's entry found (undefined: absent). MSAL's cache in
   * this client is built on it (deserialize merges), so a write is valid only over that value.
   */
  private base?: { key: string; sealed: string | undefined };
  /** A later read found another value, or a write lost: the cache here mixes states, and is not written. */
  private stale = false;

  constructor(private readonly options: TokenCacheClientOptions) {
    this.pending = options.pending;
  }

  /** Throws TokenCacheKeyError when the entry does not open (wrong or missing key). */
  async get(key: string): Promise<string> {
    // MSAL wants '' on a miss (FINDINGS); an empty key is a sign-in that has no user yet.
    if (!key) return '';
    let sealed: string | undefined;
    if (this.pending?.homeAccountId === key) {
      sealed = await this.pending.sealed;
      // Later reads (MSAL reads again before writing a refresh) go to the store.
      this.pending = undefined;
    } else {
      sealed = await this.options.store.get(key);
    }
    if (!this.base) this.base = { key, sealed };
    else if (this.base.key !== key || this.base.sealed !== sealed) this.stale = true;
    return sealed ? this.options.sealer.open(sealed, key) : '';
  }

  /**
   * Write, then re-read the user's tombstone: if a sign-out overtook this write (a refresh in
   * flight, or a code redemption, while the user signed out), remove what we wrote. On a
   * linearizable store that leaves no window in which tokens come back (DESIGN, invariant 3).
   * When the store fails after the write may have landed, the check is retried in the
   * background (fail closed: a write we cannot vouch for is removed once a sign-out is seen),
   * and the error is thrown: the request fails (503), it never proceeds on an unchecked write.
   */
  async set(key: string, value: string): Promise<string> {
    if (!key) return 'OK';
    const { store, sealer, ttlMs, guard } = this.options;
    if (!guard) throw new Error('a token cache write needs a sign-out guard');
    value = adoptOrphanCredentials(value, key);
    // Written only over the value this client's cache was built on, atomically (compare-and-set):
    // never over what another request wrote since (a newer refresh, the user's next sign-in), nor
    // into an entry a sign-out deleted meanwhile. A write that lost yields; its request goes on
    // with what MSAL gave it, and checks the tombstone before using it (access-token.ts). A
    // sign-in's redemption read nothing first: it replaces what is there (the user's newest tokens).
    if (this.stale) return 'OK';
    let expected: string | undefined;
    if (this.base?.key === key) {
      expected = this.base.sealed;
    } else {
      // A redemption: what is there now, read before the tombstone, so a sign-out that lands after
      // this check either changed the entry (the write below then fails) or found none to delete
      // (and the check after the write removes this one). One the check sees already writes
      // nothing: never over the user's next sign-in (outside review of issue 14, second round).
      expected = await store.get(key);
      if (overtakenBySignOut(guard, await this.options.tombstones.signedOutAt(key))) {
        this.stale = true;
        return 'OK';
      }
    }
    const sealed = sealer.seal(value, key);
    let wrote: boolean;
    try {
      wrote = await store.setIf(key, expected, sealed, ttlMs);
    } catch (err) {
      this.stale = true;
      void this.checkLater(key, guard, sealed);
      throw err;
    }
    if (!wrote) {
      this.stale = true;
      return 'OK';
    }
    this.base = { key, sealed };
    try {
      await this.undoIfOvertaken(key, guard, sealed);
    } catch (err) {
      void this.checkLater(key, guard, sealed);
      throw err;
    }
    return 'OK';
  }

  /**
   * Removes what this write stored (`sealed`: unique per write, a fresh IV) when a sign-out
   * overtook it; only that value, never a newer entry a later sign-in wrote meanwhile.
   */
  private async undoIfOvertaken(key: string, guard: SignOutGuard, sealed: string): Promise<void> {
    if (overtakenBySignOut(guard, await this.options.tombstones.signedOutAt(key))) await this.options.store.deleteIf(key, sealed);
  }

  private async checkLater(key: string, guard: SignOutGuard, sealed: string): Promise<void> {
    const delays = this.options.retryDelaysMs ?? CLEANUP_RETRY_DELAYS_MS;
    for (const delay of delays) {
      await new Promise((r) => setTimeout(r, delay).unref());
      try {
        await this.undoIfOvertaken(key, guard, sealed);
        return;
      } catch {
        // the store is still away: try again
      }
    }
    this.options.log.error('token_cache.write_unchecked', {
      user: key,
      reason: `the store failed during a token write and its sign-out check for ${Math.round(delays.reduce((a, b) => a + b, 0) / 1000)} s; the entry may outlive a sign-out until its TTL`,
    });
  }
}

/**
 * MSAL files the tokens of a refresh response that has no ID token (Glewlwyd, many others; the
 * spec makes it optional) under an empty home account id, where neither MSAL's own lookups nor
 * ours find them: every later call would refresh again, and a rotated refresh token would be
 * lost. This partition holds one user, so such credentials are that user's: they are filed
 * under `homeAccountId` again (the cache key's first segment and the entity's field), replacing
 * the older entry of the same key. Anything unreadable is returned as it was.
 */
export function adoptOrphanCredentials(serialized: string, homeAccountId: string): string {
  let cache: Record<string, unknown>;
  try {
    cache = JSON.parse(serialized) as Record<string, unknown>;
  } catch {
    return serialized;
  }
  let changed = false;
  for (const section of ['AccessToken', 'RefreshToken', 'IdToken']) {
    const entries = cache[section];
    if (!entries || typeof entries !== 'object') continue;
    const map = new Map(Object.entries(entries as Record<string, { home_account_id?: unknown }>));
    for (const [cacheKey, entity] of map) {
      if (entity?.home_account_id !== '' || !cacheKey.startsWith('-')) continue;
      map.delete(cacheKey);
      map.set(`${homeAccountId.toLowerCase()}${cacheKey}`, { ...entity, home_account_id: homeAccountId });
      changed = true;
    }
    cache[section] = Object.fromEntries(map);
  }
  return changed ? JSON.stringify(cache) : serialized;
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

export function userCachePlugin(options: TokenCacheClientOptions, homeAccountId?: string) {
  return new DistributedCachePlugin(new TokenCacheClient(options), new UserPartition(homeAccountId));
}

/**
 * The user's newest ID token in a serialized MSAL cache (the shared cache schema's `IdToken`
 * entities of that home account), for the end-session request's id_token_hint; undefined if none.
 */
export function idTokenOf(serialized: string, homeAccountId: string): string | undefined {
  try {
    const cache = JSON.parse(serialized) as { IdToken?: Record<string, { home_account_id?: unknown; secret?: unknown }> };
    const secrets = Object.values(cache.IdToken ?? {}).filter((t) => t.home_account_id === homeAccountId && typeof t.secret === 'string' && t.secret);
    return secrets.length > 0 ? String(secrets[secrets.length - 1]!.secret) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every refresh token in a serialized MSAL cache (the shared cache schema's `RefreshToken`
 * entities), for RFC 7009 revocation at sign-out; [] if none or unreadable. The partition holds
 * one user, so every one is theirs (a refresh response without an ID token files it elsewhere).
 */
export function refreshTokensOf(serialized: string): string[] {
  try {
    const cache = JSON.parse(serialized) as { RefreshToken?: Record<string, { secret?: unknown }> };
    const secrets = Object.values(cache.RefreshToken ?? {}).map((t) => t?.secret);
    return [...new Set(secrets.filter((s): s is string => typeof s === 'string' && s.length > 0))];
  } catch {
    return [];
  }
}
