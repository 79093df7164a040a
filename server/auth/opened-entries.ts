import { accessTokenEntities, type AccessTokenEntity } from './cached-token';
import type { TokenSealer } from './token-encryption';

/** A user's token cache entry, opened: MSAL's serialized cache and its access tokens, parsed. */
export interface OpenedEntry {
  serialized: string;
  /** Frozen: shared by every request that reads the same sealed entry. */
  accessTokens: readonly AccessTokenEntity[];
}

export interface OpenedEntriesOptions {
  /** Most entries kept (default 10,000). */
  maxEntries?: number;
  /** Most bytes kept, counted as UTF-16 code units × 2 of each serialized cache (default 64 MiB); 0 turns the cache off. */
  maxBytes?: number;
  now?: () => number;
}

interface Kept extends OpenedEntry {
  sealed: string;
  homeAccountId: string;
  bytes: number;
  /** ms: past the last access token's expiry the entry can serve no call from the fast path. */
  until: number;
}

/** Characters at the end of a sealed value that key it: its GCM tag and a part of the ciphertext. */
const KEY_CHARS = 48;

/**
 * Opened token cache entries, per instance, keyed by the sealed entry itself: an entry is
 * used only for the exact sealed value the store holds now, which every call still reads
 * (with the user's tombstone) before it gets here. A sign-out deletes the stored entry, and any
 * change by any instance writes a new sealed value (a fresh IV), so nothing cached here can serve
 * a call after its user's sign-out, nor a stale token after a refresh: the store's value decides,
 * this only saves opening it again (AES-GCM and two JSON parses, ~45 µs of a 5 KB entry).
 *
 * What it holds lives in this process's memory only, as the opened entry does during any call;
 * nothing is written anywhere. Bounded in count and bytes, least recently used first out, and an
 * entry is dropped once its last access token has expired (at use, and by a sweep every minute).
 */
export class OpenedEntries {
  private readonly kept = new Map<string, Kept>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private readonly sweeper?: NodeJS.Timeout;

  constructor(
    private readonly sealer: TokenSealer,
    options: OpenedEntriesOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxBytes = options.maxBytes ?? 64 * 2 ** 20;
    this.now = options.now ?? Date.now;
    if (this.maxBytes > 0) {
      this.sweeper = setInterval(() => this.sweep(), 60_000);
      this.sweeper.unref();
    }
  }

  /**
   * Opens `sealed`, bound to `homeAccountId` (TokenSealer.open), from the cache when this exact
   * value was opened before for this user. Throws what TokenSealer.open throws.
   */
  open(sealed: string, homeAccountId: string): OpenedEntry {
    // Looked up by the end of the value (its GCM tag: hashing a short key, not 6 KB, per call),
    // used only when the whole value is the same.
    const key = sealed.slice(-KEY_CHARS);
    const hit = this.kept.get(key);
    if (hit && hit.sealed === sealed && hit.homeAccountId === homeAccountId && hit.until > this.now()) {
      // Most recently used goes last.
      this.kept.delete(key);
      this.kept.set(key, hit);
      return hit;
    }
    if (hit) this.drop(key, hit);
    const serialized = this.sealer.open(sealed, homeAccountId);
    const accessTokens = Object.freeze((accessTokenEntities(serialized) ?? []).map((at) => Object.freeze({ ...at })));
    const opened = { serialized, accessTokens };
    const until = Math.max(0, ...accessTokens.map((at) => Number(at.expires_on) * 1000).filter(Number.isFinite));
    const bytes = 2 * (serialized.length + sealed.length);
    if (!(until > this.now() && bytes <= this.maxBytes)) return opened;
    const kept = { ...opened, sealed, homeAccountId, bytes, until };
    this.kept.set(key, kept);
    this.bytes += bytes;
    for (const [key, entry] of this.kept) {
      if (this.kept.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.drop(key, entry);
    }
    return kept;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.kept.size, bytes: this.bytes };
  }

  /** Drops every entry whose access tokens have all expired; returns how many. */
  sweep(): number {
    const now = this.now();
    let dropped = 0;
    for (const [key, entry] of this.kept) {
      if (entry.until <= now) {
        this.drop(key, entry);
        dropped++;
      }
    }
    return dropped;
  }

  close(): void {
    clearInterval(this.sweeper);
    this.kept.clear();
    this.bytes = 0;
  }

  private drop(key: string, entry: Kept): void {
    if (this.kept.delete(key)) this.bytes -= entry.bytes;
  }
}
