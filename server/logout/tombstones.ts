import type { Store } from '../stores/store';

/**
 * A tombstone per signed-out user: the moment of sign-out, kept as long as a session can live.
 * Every session created at or before it is dead, on every instance that shares the store.
 */
export class Tombstones {
  constructor(
    private readonly store: Store<unknown>,
    private readonly ttlMs: number,
  ) {}

  private key = (homeAccountId: string) => `tomb:${homeAccountId}`;

  async write(homeAccountId: string, at = Date.now()): Promise<number> {
    await this.store.set(this.key(homeAccountId), at, this.ttlMs);
    return at;
  }

  async signedOutAt(homeAccountId: string): Promise<number | undefined> {
    const value = await this.store.get(this.key(homeAccountId));
    return typeof value === 'number' ? value : undefined;
  }
}
