import { createClient, createCluster, createSentinel } from '@keyv/redis';
import { bounded } from './store';

/** Where the shared Redis is: one server, a cluster (any root node), or a primary under Sentinel. */
export type RedisTarget = (
  | { kind: 'standalone'; url: string }
  | { kind: 'cluster'; url: string }
  | { kind: 'sentinel'; name: string; sentinels: { host: string; port: number }[]; password?: string }
) & {
  /** REDIS_SIGNOUT_REPLICAS: replicas that must confirm a sign-out before it answers (Stores.replicated). */
  signOutReplicas?: number;
};

/** How often a standalone Redis connection is pinged to notice one that went silent (ms). */
export const HEARTBEAT_MS = 1000;

/**
 * The one connection (or, for a cluster or Sentinel, one client) behind every store, opened once
 * at start-up.
 * - `client`: what @keyv/redis is given;
 * - `command(key, readonly, args)`: a raw command; in a cluster, sent to the master of `key`'s
 *   slot; under Sentinel, to the current primary;
 * - `ready()`: awaited before each call (within the call's bound): the first opening.
 * No offline queue: while Redis is away every call fails at once (the caller answers 503) instead
 * of queueing writes that would land later, out of order.
 */
export interface RedisConnection {
  client: unknown;
  command(key: string, readonly: boolean, args: string[]): Promise<unknown>;
  ready(): Promise<void> | undefined;
  close(): Promise<void>;
}

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

type Standalone = ReturnType<typeof createClient>;
type Cluster = ReturnType<typeof createCluster>;

/**
 * One round of watching a cluster: PING every master, bounded. A master that does not answer
 * while its connection looks ready has gone silent: its connection is replaced. Any master that
 * fails (silent, refusing, or gone) has the slot map re-read from a master that answers: node-redis
 * re-reads it by itself only on a MOVED reply, which a dead master never sends, so without this
 * the slots of a failed-over master would stay on the dead address for good (its replica promoted,
 * unused). The re-read is node-redis's own (`rediscover`, what it does on MOVED).
 */
async function watchCluster(cluster: Cluster, timeoutMs: number, reconnect: (node: Standalone) => Promise<void>): Promise<void> {
  const answered = await Promise.all(
    cluster.masters.map(async (master) => {
      const node = (await bounded(cluster.nodeClient(master), timeoutMs).catch(() => undefined)) as Standalone | undefined;
      if (!node) return undefined;
      const ready = node.isReady;
      const pong = await bounded(node.ping(), timeoutMs).then(
        () => true,
        () => false,
      );
      // Not awaited: a node that is paused (not dead) accepts the connection and never answers
      // its handshake; this round must not wait on it, nor keep the next round from running.
      if (!pong && ready) void reconnect(node);
      return pong ? node : undefined;
    }),
  );
  if (answered.every(Boolean)) return;
  const live = answered.find(Boolean);
  const slots = (cluster as unknown as { _slots?: { rediscover?: (startWith: Standalone) => Promise<void> } })._slots;
  if (!live || typeof slots?.rediscover !== 'function') return;
  await bounded(slots.rediscover(live), timeoutMs).catch(() => undefined);
}

export function openRedis(target: RedisTarget, timeoutMs: number): RedisConnection {
  const socket = { connectTimeout: timeoutMs, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) };
  let client: { on(event: 'error', listener: () => void): unknown; connect(): Promise<unknown>; close(): Promise<void>; readonly isOpen: boolean };
  let command: (key: string, readonly: boolean, args: string[]) => Promise<unknown>;
  if (target.kind === 'cluster') {
    const nodes = clusterNodeDefaults(target.url);
    const cluster = createCluster({ rootNodes: [{ url: target.url }], defaults: { ...nodes, socket: { ...socket, ...nodes.socket }, disableOfflineQueue: true } });
    client = cluster;
    command = (key, readonly, args) => cluster.sendCommand(key, readonly, args);
  } else if (target.kind === 'sentinel') {
    const auth = target.password === undefined ? {} : { password: target.password };
    const sentinel = createSentinel({
      name: target.name,
      sentinelRootNodes: target.sentinels,
      nodeClientOptions: { ...auth, socket, disableOfflineQueue: true },
      sentinelClientOptions: { ...auth, socket },
      // A failover is announced on the sentinels' +switch-master channel; the scan is the backstop.
      scanInterval: 1000,
    });
    client = sentinel;
    command = (_key, readonly, args) => sentinel.sendCommand(readonly, args);
  } else {
    const standalone = createClient({ url: target.url, socket, disableOfflineQueue: true });
    client = standalone;
    command = (_key, _readonly, args) => standalone.sendCommand(args);
  }
  // Connection errors surface through the failing calls; unhandled, the event would crash us.
  client.on('error', () => {});

  // One connection attempt, started now, that every first call waits for (within its bound):
  // three adapters each connecting on first use would race, and with no offline queue a call
  // made while the socket opens fails ("the client is offline"). Later drops reconnect by
  // themselves (reconnectStrategy); calls made meanwhile fail fast, and the caller answers 503.
  let connected = false;
  const connect = () =>
    client.connect().then(
      () => void (connected = true),
      () => undefined,
    );
  const connection = connect();
  const ready = () => (connected ? undefined : connection);

  // A connection that goes silent (packets dropped without a reset: a NAT timeout, a failover to
  // a new address, a half-open TCP connection) fails no call by itself: node-redis would wait for
  // the kernel, minutes. A PING every HEARTBEAT_MS, bounded like every call: unanswered while the
  // client thinks it is ready, the socket is taken for dead and replaced (FINDINGS). A cluster's
  // masters are each watched the same way (watchCluster).
  let busy = false;
  /** A new connection for `node` in place of its silent one; meanwhile its calls fail at once (no offline queue). */
  const reconnect = (node: Standalone): Promise<void> => {
    node.destroy();
    return node.connect().then(
      () => void (connected = true),
      () => undefined,
    );
  };
  // A standalone connection not ready for this long (a handshake that never answers: connected,
  // then silent) is replaced as a silent one is; node-redis bounds the TCP connect, not the
  // handshake after it.
  let unreadySince: number | undefined;
  const replaceStandalone = (standalone: Standalone) => {
    busy = true;
    unreadySince = undefined;
    // A connection attempt that hangs must not stop the watch: the next round may try again.
    void bounded(reconnect(standalone), 3 * timeoutMs)
      .catch(() => undefined)
      .finally(() => void (busy = false));
  };
  const heartbeat = setInterval(() => {
    if (busy) return;
    if (target.kind === 'standalone') {
      const standalone = client as Standalone;
      if (!connected || !standalone.isReady) {
        unreadySince ??= Date.now();
        if (Date.now() - unreadySince >= 3 * timeoutMs) replaceStandalone(standalone);
        return;
      }
      unreadySince = undefined;
      bounded(standalone.ping(), timeoutMs).catch(() => replaceStandalone(standalone));
    } else if (target.kind === 'cluster' && connected) {
      busy = true;
      void watchCluster(client as Cluster, timeoutMs, reconnect).finally(() => void (busy = false));
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    client,
    command: async (key, readonly, args) => {
      await ready();
      return command(key, readonly, args);
    },
    ready,
    close: async () => {
      clearInterval(heartbeat);
      if (client.isOpen) await Promise.race([client.close(), new Promise((r) => setTimeout(r, 500))]).catch(() => {});
    },
  };
}
