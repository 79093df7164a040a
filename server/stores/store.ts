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
  /**
   * Deletes `key` only while it still holds `value` (compared as stored, atomically: a Lua script
   * on Redis, one synchronous step in memory): undoes one's own write without removing a newer
   * one another request made meanwhile.
   */
  deleteIf(key: string, value: T): Promise<void>;
  /**
   * Writes `value` only while `key` still holds `expected` (undefined: while it holds nothing),
   * atomically like deleteIf; resolves with whether it wrote. A write that was decided on an
   * earlier read, and was delayed, cannot replace what another request wrote since.
   */
  setIf(key: string, expected: T | undefined, value: T, ttlMs: number): Promise<boolean>;
}

/** A backend's atomic conditional operations on Keyv entries (given Keyv's full key). */
export interface Conditional {
  deleteIf(fullKey: string, value: unknown): Promise<void>;
  /** `entry`: the envelope to store, as Keyv stores it (keyvEntry). */
  setIf(fullKey: string, expected: unknown, entry: string, ttlMs: number): Promise<boolean>;
}

/** What Keyv's default serializer stores: `{"value":…,"expires":<ms>}`, a leading ':' of a string escaped by another. */
export function keyvEntry(value: unknown, ttlMs: number, now = Date.now()): string {
  return JSON.stringify({ value: escapeStored(value), expires: now + ttlMs });
}

/** A string value as Keyv's serializer writes it (see deserialize). */
export function escapeStored(value: unknown): unknown {
  return typeof value === 'string' && value.startsWith(':') ? `:${value}` : value;
}

/** `ready`: awaited before each call (within its bound), e.g. a connection's first opening. */
export function keyvStore<T>(keyv: Keyv<T>, timeoutMs: number, ready: () => Promise<void> | undefined, conditional: Conditional): Store<T> {
  const after = async <R>(call: () => Promise<R>): Promise<R> => {
    await ready();
    return call();
  };
  return {
    get: (key) => bounded(after(() => keyv.get(key) as Promise<T | undefined>), timeoutMs),
    set: async (key, value, ttlMs) => {
      await bounded(after(() => keyv.set(key, value, ttlMs && ttlMs > 0 ? Math.ceil(ttlMs) : undefined)), timeoutMs);
    },
    delete: async (key) => {
      await bounded(after(() => keyv.delete(key)), timeoutMs);
    },
    deleteIf: async (key, value) => {
      await bounded(after(() => conditional.deleteIf(`${keyv.namespace}:${key}`, value)), timeoutMs);
    },
    setIf: (key, expected, value, ttlMs) => {
      const ttl = Math.max(1, Math.ceil(ttlMs));
      return bounded(after(() => conditional.setIf(`${keyv.namespace}:${key}`, expected, keyvEntry(value, ttl), ttl)), timeoutMs);
    },
  };
}

/**
 * Reads what Keyv's default serializer (@keyv/serialize) writes, the same way, without a JSON
 * reviver: JSON.parse, then the same unescaping (a string written with a leading ':' loses it,
 * ':base64:' becomes a Buffer). The reviver made Keyv's own parse of a 5–8 KB token cache entry
 * one of the larger costs of an API call; the stored format does not change.
 */
export function deserialize<T>(data: string): T {
  return (plainStringEntry(data) ?? unescapeStored(JSON.parse(data))) as T;
}

const STRING_ENTRY = '{"value":"';
const ENTRY_END = /^","expires":(\d{1,16})\}$|^"\}$/;

/**
 * The common case read without JSON.parse: an entry whose value is a string with nothing JSON
 * escapes (a sealed token entry: base64url and dots, 5–8 KB), `{"value":"…","expires":<ms>}`.
 * Anything else (a backslash anywhere in the value, another shape) is left to JSON.parse.
 */
function plainStringEntry(data: string): { value: string; expires?: number } | undefined {
  if (!data.startsWith(STRING_ENTRY)) return undefined;
  const close = data.indexOf('"', STRING_ENTRY.length);
  if (close < 0) return undefined;
  const escaped = data.indexOf('\\', STRING_ENTRY.length);
  if (escaped >= 0 && escaped < close) return undefined;
  const end = ENTRY_END.exec(data.slice(close));
  if (!end) return undefined;
  const raw = data.slice(STRING_ENTRY.length, close);
  const value = unescapeStored(raw) as string;
  return end[1] === undefined ? { value } : { value, expires: Number(end[1]) };
}

function unescapeStored(value: unknown): unknown {
  if (typeof value === 'string') {
    if (!value.startsWith(':')) return value;
    return value.startsWith(':base64:') ? Buffer.from(value.slice(8), 'base64') : value.slice(1);
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const before = record[key];
      const after = unescapeStored(before);
      if (after !== before) Object.defineProperty(record, key, { value: after, writable: true, enumerable: true, configurable: true });
    }
  }
  return value;
}

/** Awaits a store operation for at most timeoutMs; any failure becomes StoreUnavailableError. */
export async function bounded<T>(operation: Promise<T>, timeoutMs: number): Promise<T> {
  if (!Number.isFinite(timeoutMs)) {
    // A store in this process (a Map) cannot hang: no timer per call.
    try {
      return await operation;
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  }
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
