import Keyv from 'keyv';
import KeyvRedis from '@keyv/redis';
import type { Config } from '../config';
import type { SessionData } from '../session/data';
import { randomBytes } from 'node:crypto';
import { StoreUnavailableError } from '../errors';
import { bounded, deserialize, escapeStored, keyvStore, type Conditional, type Store } from './store';
import { keyedByUser } from './user-slot';
import { openRedis, type RedisTarget } from './redis-connection';

export { clusterNodeDefaults, HEARTBEAT_MS } from './redis-connection';

/**
 * The BFF's three stores, one Keyv namespace each: in-memory by default, Redis with REDIS_URL.
 * - sessions: koa-session's external store (the cookie carries only an opaque id);
 * - tokens: MSAL's serialized cache, one entry per user (keyed by homeAccountId, stored under
 *   userKey: every key of one user shares one Redis Cluster slot, see user-slot.ts);
 * - logout: sign-out bookkeeping (sid and sub to user, sessions of a user, tombstones, seen jti).
 */
export interface Stores {
  sessions: Store<SessionData>;
  tokens: Store<string>;
  logout: Store<unknown>;
  /**
   * The shared store's own clock (ms since the epoch): Redis's TIME, or this process's clock for
   * in-memory stores. Sign-out and sign-in cut-offs are taken from it, so comparing them never
   * compares the clocks of two BFF instances (DESIGN, the invariant). StoreUnavailableError when
   * the store does not answer.
   */
  now(): Promise<number>;
  /**
   * Takes a lease on `name`, exclusive across every instance sharing the store, for `ttlMs`
   * (Redis `SET … NX PX`; a Map in memory). Resolves with the holder's token, or undefined when
   * another holder has it. StoreUnavailableError when the store fails.
   */
  lease(name: string, ttlMs: number): Promise<string | undefined>;
  /** Ends a lease, only if `token` still holds it (compare-and-delete). */
  releaseLease(name: string, token: string): Promise<void>;
  /**
   * Waits (at most REPLICATION_WAIT_MS) until the writes made so far to the node serving
   * `slotKey` have reached REDIS_SIGNOUT_REPLICAS replicas (Redis `WAIT`), so that a failover
   * right after cannot lose them: Redis replicates asynchronously, and an acknowledged write can
   * die with its master, and a replica promoted without it would bring back what it undid.
   * Resolves at once where nothing is to be waited for (in-memory stores; REDIS_SIGNOUT_REPLICAS=0,
   * the default with a standalone REDIS_URL). StoreUnavailableError when the store fails or fewer
   * replicas confirmed in time.
   */
  replicated(slotKey: string): Promise<void>;
  /** Resolves when every store answers (GET /readyz), rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const STORE_TIMEOUT_MS = 1000;
/** How long a sign-out waits for its writes to reach a replica (Cluster, Sentinel). */
export const REPLICATION_WAIT_MS = 500;

export interface StoreOptions {
  timeoutMs?: number;
  /** In-memory mode: the Map behind each namespace, for a caller that wants to look inside. */
  memory?: Map<string, unknown>;
}

export function createStores(config: Partial<Pick<Config, 'redis' | 'redisKeyPrefix'>>, options: StoreOptions = {}): Stores {
  const timeoutMs = options.timeoutMs ?? STORE_TIMEOUT_MS;
  if (config.redis) return redisStores(config.redis, config.redisKeyPrefix ?? 'bff:', timeoutMs);
  const memory = options.memory ?? new Map();
  const open = <T>(namespace: string): Store<T> => {
    const keyv = new Keyv<T>({ store: memory, namespace, throwOnErrors: true, deserialize });
    keyv.on('error', () => {});
    // One synchronous step each: nothing can write between the read and the change.
    const valueAt = (fullKey: string) => {
      const raw = memory.get(fullKey);
      return typeof raw === 'string' ? deserialize<{ value?: unknown; expires?: number }>(raw) : undefined;
    };
    const conditional: Conditional = {
      deleteIf: async (fullKey, value) => {
        if (valueAt(fullKey)?.value === value) memory.delete(fullKey);
      },
      setIf: async (fullKey, expected, entry) => {
        const current = valueAt(fullKey);
        const live = current && !(typeof current.expires === 'number' && current.expires <= Date.now()) ? current.value : undefined;
        if (live !== expected) return false;
        memory.set(fullKey, entry);
        return true;
      },
    };
    return keyvStore<T>(keyv, options.timeoutMs ?? Number.POSITIVE_INFINITY, () => undefined, conditional);
  };
  // Keyv drops an expired entry only when it is read again; a session never revisited would stay
  // in memory for good. Sweep once a minute, as Redis's own expiry does.
  const leases = new Map<string, { token: string; until: number }>();
  const sweeper = setInterval(() => sweepExpired(memory), 60_000);
  sweeper.unref();
  return {
    sessions: open<SessionData>('sessions'),
    tokens: keyedByUser(open<string>('tokens')),
    logout: open<unknown>('logout'),
    now: async () => Date.now(),
    lease: async (name, ttlMs) => {
      const held = leases.get(name);
      if (held && held.until > Date.now()) return undefined;
      const token = randomBytes(16).toString('base64url');
      leases.set(name, { token, until: Date.now() + ttlMs });
      return token;
    },
    releaseLease: async (name, token) => {
      if (leases.get(name)?.token === token) leases.delete(name);
    },
    replicated: async () => {},
    ping: async () => {},
    close: async () => clearInterval(sweeper),
  };
}

/** Deletes the entries of Keyv's in-memory envelope (`{"value":…,"expires":<ms>}`) whose time has passed. */
export function sweepExpired(memory: Map<string, unknown>, now = Date.now()): number {
  let swept = 0;
  for (const [key, raw] of memory) {
    const expires = typeof raw === 'string' ? /"expires":(\d+)\}$/.exec(raw)?.[1] : undefined;
    if (expires !== undefined && Number(expires) <= now) {
      memory.delete(key);
      swept++;
    }
  }
  return swept;
}

const CLOCK_SLOT_KEY = '{bff-clock}';
/** Deletes KEYS[1] only while its Keyv envelope (`{"value":…,"expires":…}`) holds the string ARGV[1]. */
const DELETE_IF_VALUE =
  "local raw = redis.call('get', KEYS[1]) if not raw then return 0 end local ok, entry = pcall(cjson.decode, raw) " +
  "if ok and type(entry) == 'table' and entry.value == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
/**
 * Sets KEYS[1] to ARGV[3] (PX ARGV[4]) only while it holds nothing (ARGV[1] = '0') or a Keyv
 * envelope whose value is the string ARGV[2] (ARGV[1] = '1'). Returns 1 when it wrote.
 */
const SET_IF_VALUE =
  "local raw = redis.call('get', KEYS[1]) local holds = false " +
  "if raw then local ok, entry = pcall(cjson.decode, raw) holds = ok and type(entry) == 'table' and entry.value == ARGV[2] end " +
  "if (ARGV[1] == '0' and not raw) or (ARGV[1] == '1' and holds) then redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[4]) return 1 end return 0";
/** Deletes KEYS[1] only while it still holds ARGV[1]: a lease ends only by its own holder. */
const RELEASE_IF_HELD = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** Redis TIME's reply (`[seconds, microseconds]`, as strings) in whole milliseconds. */
export function redisTimeMs(reply: unknown): number {
  const [seconds, micros] = Array.isArray(reply) ? reply.map(Number) : [];
  if (!Number.isSafeInteger(seconds) || !Number.isSafeInteger(micros)) throw new Error('Redis TIME gave an unexpected reply');
  return seconds! * 1000 + Math.floor(micros! / 1000);
}

/**
 * One Redis connection (redis-connection.ts) for the three namespaces (`<prefix>sessions:…`,
 * `<prefix>tokens:…`, `<prefix>logout:…`) and the leases (`<prefix>lease:…`).
 */
function redisStores(target: RedisTarget, prefix: string, timeoutMs: number): Stores {
  const redis = openRedis(target, timeoutMs);
  const open = <T>(namespace: string): Store<T> => {
    const adapter = new KeyvRedis<T>(redis.client as never, { keyPrefixSeparator: ':', throwOnConnectError: true, throwOnErrors: true, connectionTimeout: timeoutMs });
    // The adapter prefixes keys with the namespace itself; Keyv must not do it again.
    const keyv = new Keyv<T>({ store: adapter, namespace: `${prefix}${namespace}`, useKeyPrefix: false, throwOnErrors: true, deserialize });
    keyv.on('error', () => {});
    const conditional: Conditional = {
      deleteIf: async (fullKey, value) => {
        if (typeof value !== 'string') throw new Error('deleteIf compares string values only');
        await redis.command(fullKey, false, ['EVAL', DELETE_IF_VALUE, '1', fullKey, escapeStored(value) as string]);
      },
      setIf: async (fullKey, expected, entry, ttlMs) => {
        if (expected !== undefined && typeof expected !== 'string') throw new Error('setIf compares string values only');
        const args = ['EVAL', SET_IF_VALUE, '1', fullKey, expected === undefined ? '0' : '1', expected === undefined ? '' : (escapeStored(expected) as string), entry, String(ttlMs)];
        return Number(await redis.command(fullKey, false, args)) === 1;
      },
    };
    return keyvStore<T>(keyv, timeoutMs, redis.ready, conditional);
  };
  const sessions = open<SessionData>('sessions');
  return {
    sessions,
    tokens: keyedByUser(open<string>('tokens')),
    logout: open<unknown>('logout'),
    now: async () => {
      // In a cluster, TIME goes to the master of one fixed slot: every instance reads one clock.
      return redisTimeMs(await bounded(redis.command(CLOCK_SLOT_KEY, true, ['TIME']), timeoutMs));
    },
    lease: async (name, ttlMs) => {
      const key = `${prefix}lease:${name}`;
      const token = randomBytes(16).toString('base64url');
      const args = ['SET', key, token, 'NX', 'PX', String(Math.ceil(ttlMs))];
      const reply = await bounded(redis.command(key, false, args), timeoutMs);
      return reply === 'OK' ? token : undefined;
    },
    releaseLease: async (name, token) => {
      const key = `${prefix}lease:${name}`;
      await bounded(redis.command(key, false, ['EVAL', RELEASE_IF_HELD, '1', key, token]), timeoutMs);
    },
    replicated: async (slotKey) => {
      const wanted = target.signOutReplicas ?? (target.kind === 'standalone' ? 0 : 1);
      if (wanted === 0) return;
      // WAIT counts the writes of this connection: the one serving slotKey's node (one per node
      // in a cluster; the primary's under Sentinel), where the user's keys were just written.
      const confirmed = Number(await bounded(redis.command(slotKey, false, ['WAIT', String(wanted), String(REPLICATION_WAIT_MS)]), timeoutMs));
      if (!(confirmed >= wanted)) throw new StoreUnavailableError(new Error(`${confirmed} of ${wanted} replicas confirmed the writes within ${REPLICATION_WAIT_MS} ms`));
    },
    ping: async () => {
      await sessions.get('readyz');
    },
    close: () => redis.close(),
  };
}
