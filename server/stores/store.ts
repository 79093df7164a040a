import Keyv from 'keyv';
import { StoreUnavailableError } from '../errors';

/**
 * A typed key-value store over Keyv. Every call is bounded by a timeout and any failure becomes
 * StoreUnavailableError: a store we cannot read is an error (fail closed), never "no entry".
 */
export interface Store<T> {
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<void>;
}

export function keyvStore<T>(keyv: Keyv<T>, timeoutMs: number): Store<T> {
  return {
    get: (key) => bounded(keyv.get(key) as Promise<T | undefined>, timeoutMs),
    set: async (key, value, ttlMs) => {
      await bounded(keyv.set(key, value, ttlMs && ttlMs > 0 ? Math.ceil(ttlMs) : undefined), timeoutMs);
    },
    delete: async (key) => {
      await bounded(keyv.delete(key), timeoutMs);
    },
  };
}

async function bounded<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`store call exceeded ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([operation, timeout]);
  } catch (err) {
    throw new StoreUnavailableError(err);
  } finally {
    clearTimeout(timer);
  }
}
