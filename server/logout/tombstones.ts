import { userKey } from '../stores/user-slot';
import type { Store } from '../stores/store';

/**
 * A tombstone per signed-out user: the moment of sign-out by the shared store's clock
 * (Stores.now), kept as long as a session can live. Every session whose sign-in began at or
 * before it is dead, on every instance that shares the store; since both moments come from the
 * store's clock, skew between BFF instances cannot reorder them.
 */
export class Tombstones {
  constructor(
    private readonly store: Store<unknown>,
    private readonly ttlMs: number,
    private readonly storeNow: () => Promise<number>,
  ) {}

  private key = (homeAccountId: string) => `tomb:${userKey(homeAccountId)}`;

  /** Writes the user's tombstone; returns it (ms, store clock). */
  async write(homeAccountId: string): Promise<number> {
    const at = await this.storeNow();
    await this.store.set(this.key(homeAccountId), at, this.ttlMs);
    return at;
  }

  async signedOutAt(homeAccountId: string): Promise<number | undefined> {
    const value = await this.store.get(this.key(homeAccountId));
    return typeof value === 'number' ? value : undefined;
  }

  /**
   * One session ended on its own ("Sign out this device", user-sessions.ts): a marker under the
   * session id (which starts with the user's slot tag, so it shares the user's slot), kept as long
   * as a session can live. A request of that session still in flight re-reads it after writing
   * its session back (session/middleware.ts) and removes what it wrote.
   */
  async endSession(sessionId: string): Promise<void> {
    await this.store.set(`ended:${sessionId}`, 1, this.ttlMs);
  }

  async sessionEnded(sessionId: string): Promise<boolean> {
    return (await this.store.get(`ended:${sessionId}`)) !== undefined;
  }
}
