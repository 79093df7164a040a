import Keyv from 'keyv';
import KeyvRedis from '@keyv/redis';
import type { Config } from '../config';
import type { SessionData } from '../session/data';
import { keyvStore, type Store } from './store';

/**
 * The BFF's three stores, one Keyv namespace each: in-memory by default, Redis with REDIS_URL.
 * - sessions: koa-session's external store (the cookie carries only an opaque id);
 * - tokens: MSAL's serialized cache, one entry per user (homeAccountId);
 * - logout: sign-out bookkeeping (sid and sub to user, sessions of a user, tombstones, seen jti).
 */
export interface Stores {
  sessions: Store<SessionData>;
  tokens: Store<string>;
  logout: Store<unknown>;
  close(): Promise<void>;
}

export const STORE_TIMEOUT_MS = 1000;

export interface StoreOptions {
  timeoutMs?: number;
  /** In-memory mode: the Map behind each namespace, for a caller that wants to look inside. */
  memory?: Map<string, unknown>;
}

export function createStores(config: Pick<Config, 'redisUrl'>, options: StoreOptions = {}): Stores {
  const timeoutMs = options.timeoutMs ?? STORE_TIMEOUT_MS;
  const keyvs: Keyv[] = [];
  const open = <T>(namespace: string): Store<T> => {
    const keyv = config.redisUrl
      ? new Keyv<T>({ store: new KeyvRedis(config.redisUrl), namespace, throwOnErrors: true })
      : new Keyv<T>({ store: options.memory ?? new Map(), namespace, throwOnErrors: true });
    // Errors surface through the failing call; the event would otherwise be unhandled.
    keyv.on('error', () => {});
    keyvs.push(keyv as Keyv);
    return keyvStore<T>(keyv, timeoutMs);
  };
  return {
    sessions: open<SessionData>('sessions'),
    tokens: open<string>('tokens'),
    logout: open<unknown>('logout'),
    close: async () => {
      await Promise.allSettled(keyvs.map((k) => k.disconnect()));
    },
  };
}
