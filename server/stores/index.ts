import Keyv from 'keyv';
import KeyvRedis, { createClient, createCluster } from '@keyv/redis';
import type { Config } from '../config';
import type { SessionData } from '../session/data';
import { bounded, deserialize, keyvStore, type Store } from './store';

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
  /**
   * The shared store's own clock (ms since the epoch): Redis's TIME, or this process's clock for
   * in-memory stores. Sign-out and sign-in cut-offs are taken from it, so comparing them never
   * compares the clocks of two BFF instances (DESIGN, the invariant). StoreUnavailableError when
   * the store does not answer.
   */
  now(): Promise<number>;
  /** Resolves when every store answers (GET /readyz), rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const STORE_TIMEOUT_MS = 1000;

export interface StoreOptions {
  timeoutMs?: number;
  /** In-memory mode: the Map behind each namespace, for a caller that wants to look inside. */
  memory?: Map<string, unknown>;
}

export function createStores(config: Partial<Pick<Config, 'redisUrl' | 'redisKeyPrefix' | 'redisCluster'>>, options: StoreOptions = {}): Stores {
  const timeoutMs = options.timeoutMs ?? STORE_TIMEOUT_MS;
  if (config.redisUrl) return redisStores(config.redisUrl, config.redisKeyPrefix ?? 'bff:', config.redisCluster ?? false, timeoutMs);
  const memory = options.memory ?? new Map();
  const open = <T>(namespace: string): Store<T> => {
    const keyv = new Keyv<T>({ store: memory, namespace, throwOnErrors: true, deserialize });
    keyv.on('error', () => {});
    // A Map in this process cannot hang: its calls need no timeout.
    return keyvStore<T>(keyv, options.timeoutMs ?? Number.POSITIVE_INFINITY);
  };
  // Keyv drops an expired entry only when it is read again; a session never revisited would stay
  // in memory for good. Sweep once a minute, as Redis's own expiry does.
  const sweeper = setInterval(() => sweepExpired(memory), 60_000);
  sweeper.unref();
  return {
    sessions: open<SessionData>('sessions'),
    tokens: open<string>('tokens'),
    logout: open<unknown>('logout'),
    now: async () => Date.now(),
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

/**
 * What every node of a cluster is reached with: the cluster tells its nodes' addresses, not how
 * to reach them, and node-redis gives the nodes it discovers only `defaults`. Without this, the
 * credentials and TLS of a `rediss://user:pass@…` root URL would apply to the root node alone.
 */
export function clusterNodeDefaults(url: string): { username?: string; password?: string; socket: { tls: boolean } } {
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    socket: { tls: parsed.protocol === 'rediss:' },
  };
}

/** Redis TIME's reply (`[seconds, microseconds]`, as strings) in whole milliseconds. */
export function redisTimeMs(reply: unknown): number {
  const [seconds, micros] = Array.isArray(reply) ? reply.map(Number) : [];
  if (!Number.isSafeInteger(seconds) || !Number.isSafeInteger(micros)) throw new Error('Redis TIME gave an unexpected reply');
  return seconds! * 1000 + Math.floor(micros! / 1000);
}

/**
 * One Redis connection for the three namespaces (`<prefix>sessions:…`, `<prefix>tokens:…`,
 * `<prefix>logout:…`). No offline queue: while Redis is away every call fails at once (and
 * the caller answers 503) instead of queueing writes that would land later, out of order.
 */
function redisStores(url: string, prefix: string, cluster: boolean, timeoutMs: number): Stores {
  const socket = { connectTimeout: timeoutMs, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) };
  const nodes = clusterNodeDefaults(url);
  const clusterClient = cluster ? createCluster({ rootNodes: [{ url }], defaults: { ...nodes, socket: { ...socket, ...nodes.socket }, disableOfflineQueue: true } }) : undefined;
  const client = clusterClient ?? createClient({ url, socket, disableOfflineQueue: true });
  // Connection errors surface through the failing calls; unhandled, the event would crash us.
  client.on('error', () => {});
  const adapterFor = <T>() => new KeyvRedis<T>(client as never, { keyPrefixSeparator: ':', throwOnConnectError: true, throwOnErrors: true, connectionTimeout: timeoutMs });
  const open = <T>(namespace: string): Store<T> => {
    const adapter = adapterFor<T>();
    // The adapter prefixes keys with the namespace itself; Keyv must not do it again.
    const keyv = new Keyv<T>({ store: adapter, namespace: `${prefix}${namespace}`, useKeyPrefix: false, throwOnErrors: true, deserialize });
    keyv.on('error', () => {});
    return keyvStore<T>(keyv, timeoutMs);
  };
  const sessions = open<SessionData>('sessions');
  // The adapter connects the shared client on first use; TIME goes through the same connection.
  const connector = adapterFor<unknown>();
  return {
    sessions,
    tokens: open<string>('tokens'),
    logout: open<unknown>('logout'),
    now: async () => {
      // In a cluster, TIME goes to the master of one fixed slot: every instance reads one clock.
      const time = async () => {
        await connector.getClient();
        return clusterClient ? clusterClient.sendCommand(CLOCK_SLOT_KEY, true, ['TIME']) : (client as ReturnType<typeof createClient>).sendCommand(['TIME']);
      };
      return redisTimeMs(await bounded(time(), timeoutMs));
    },
    ping: async () => {
      await sessions.get('readyz');
    },
    close: async () => {
      if (client.isOpen) await Promise.race([client.close(), new Promise((r) => setTimeout(r, 500))]).catch(() => {});
    },
  };
}
