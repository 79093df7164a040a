import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, createCluster, createSentinel } from '@keyv/redis';
import { freePort, run, type Child } from './processes';
import { readerOver, redisReader, REDIS_TEST_URL, type RedisReader } from './redis';

/**
 * A Redis deployment the BFF can be pointed at: what its processes need in their environment,
 * and readers for the test. `stop` closes the readers it handed out (and ends what it started).
 */
export interface RedisTopology {
  env: Record<string, string>;
  reader(): Promise<RedisReader>;
  stop(): Promise<void>;
}

/** Whether `redis-server` and `redis-cli` can be run here; with REQUIRE_REDIS=1 a missing one is a failure. */
export function redisServerAvailable(): boolean {
  const missing = ['redis-server', 'redis-cli'].filter((command) => spawnSync(command, ['--version']).error);
  if (missing.length > 0) {
    if (process.env.REQUIRE_REDIS === '1') throw new Error(`REQUIRE_REDIS=1 but ${missing.join(' and ')} not on the PATH`);
    console.warn(`Redis Cluster and Sentinel tests skipped: ${missing.join(' and ')} not on the PATH (apt-get install -y redis-server)`);
  }
  return missing.length === 0;
}

/** Hands out readers and closes those still open at stop. */
function readers(open: () => Promise<RedisReader>) {
  const opened = new Set<RedisReader>();
  return {
    async reader(): Promise<RedisReader> {
      const reader = await open();
      opened.add(reader);
      return { ...reader, close: async () => (opened.delete(reader), reader.close()) };
    },
    closeAll: () => Promise.all([...opened].map((r) => r.close())).then(() => opened.clear()),
  };
}

/** The shared standalone Redis at REDIS_TEST_URL (test/support/redis.ts); nothing to start or stop. */
export function standaloneTopology(): RedisTopology {
  const { reader, closeAll } = readers(() => redisReader(REDIS_TEST_URL));
  return { env: { REDIS_URL: REDIS_TEST_URL }, reader, stop: closeAll };
}

/** One redis-server of a topology: its process, its loopback port. */
export interface RedisNode {
  port: number;
  child: Child;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `count` distinct free loopback ports. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Starts a redis-server (a Sentinel with `--sentinel`) and adds it to `into` at once, so that a
 * launcher failing half-way stops every process it started.
 */
async function startNode(into: RedisNode[], port: number, args: string[]): Promise<RedisNode> {
  // No disk, and a replica's first sync at once (diskless sync waits 5 s by default for more replicas).
  const settings = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];
  const child = run(`redis:${port}`, 'redis-server', [...args, ...settings], {});
  const node = { port, child };
  into.push(node);
  // A Sentinel never says "Ready to accept connections"; it names itself once it listens.
  await child.waitFor(() => (child.output.some((l) => /Ready to accept connections|Sentinel ID is/.test(l)) ? true : undefined), `redis-server on ${port} to be ready`);
  return node;
}

/** One command to the server on `port`, on a connection of its own (closed after). */
async function ask(port: number, args: string[]): Promise<unknown> {
  const client = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 1000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.sendCommand(args);
  } finally {
    client.destroy();
  }
}

/** `field:value` lines (INFO, CLUSTER INFO) as a record. */
const fields = (reply: unknown) => Object.fromEntries(String(reply).split(/\r?\n/).map((l) => l.split(':').map((s) => s.trim())).filter((kv) => kv.length === 2));

async function until<T>(find: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const found = await find();
      if (found !== undefined) return found;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/**
 * What a failover did: the node killed (SIGKILL at `killedAt`) and the one that took over, seen
 * in charge at `promotedAt` (ms since the epoch).
 */
export interface Failover {
  killed: RedisNode;
  promoted: RedisNode;
  killedAt: number;
  promotedAt: number;
}

export interface RedisCluster extends RedisTopology {
  /** One master, the root node the BFF is given. */
  url: string;
  nodes: RedisNode[];
  /** The master serving `key`'s slot. */
  masterOf(key: string): Promise<RedisNode>;
  /** SIGKILLs the master of `key`'s slot; resolves once its replica serves the slot and the cluster is ok again. */
  killMasterOf(key: string): Promise<Failover>;
}

export interface RedisSentinel extends RedisTopology {
  /** The name the Sentinels monitor the primary under. */
  name: string;
  sentinels: { host: string; port: number }[];
  nodes: RedisNode[];
  /** The primary's port, per SENTINEL GET-MASTER-ADDR-BY-NAME. */
  primary(): Promise<number>;
  /** SIGKILLs the primary; resolves once every live Sentinel reports the promoted replica. */
  killPrimary(): Promise<Failover>;
}

/**
 * A Redis Cluster of three masters and three replicas on loopback, each node in a folder of its
 * own under one temporary folder. A node is taken for failed after 1 s without an answer
 * (`cluster-node-timeout`), so a replica is promoted within a few seconds of its master's death.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bff-redis-cluster-'));
  const nodes: RedisNode[] = [];
  const stopNodes = async () => {
    await Promise.all(nodes.map((n) => n.child.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    // The bus port defaults to port + 10000, which may be taken or above 65535: given explicitly.
    const all = await freePorts(12);
    const [ports, busPorts] = [all.slice(0, 6), all.slice(6)];
    await Promise.all(
      ports.map((port, i) => {
        const dir = path.join(root, String(port));
        mkdirSync(dir);
        const cluster = ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-node-timeout', '1000', '--cluster-port', String(busPorts[i])];
        return startNode(nodes, port, ['--dir', dir, ...cluster]);
      }),
    );
    const create = run('redis-cli --cluster create', 'redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], {});
    await create.waitFor(() => (create.alive ? undefined : true), 'redis-cli --cluster create to finish', 30_000).catch(() => create.stop('SIGKILL'));
    if (create.proc.exitCode !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.output.join('\n')}`);
  } catch (e) {
    await stopNodes();
    throw e;
  }

  const alive = () => nodes.filter((n) => n.child.alive);
  const byPort = (port: number) => nodes.find((n) => n.port === port)!;
  /** The port of the master serving `slot`, as the node on `askPort` sees it. */
  const masterPortOfSlot = async (askPort: number, slot: number) => {
    const ranges = (await ask(askPort, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number]][];
    return ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1];
  };
  const slotOf = async (key: string) => Number(await ask(alive()[0]!.port, ['CLUSTER', 'KEYSLOT', key]));
  /** Every live node says the cluster is ok and every slot is served; a master's replica, if it has one, is in sync. */
  const healthy = async () => {
    for (const node of alive()) {
      const info = fields(await ask(node.port, ['CLUSTER', 'INFO']));
      if (info.cluster_state !== 'ok' || info.cluster_slots_ok !== '16384') return undefined;
      const replication = fields(await ask(node.port, ['INFO', 'replication']));
      if (replication.role === 'master' && Number(replication.connected_slaves) > 0 && !/state=online/.test(replication.slave0 ?? '')) return undefined;
    }
    return true;
  };
  // The cluster is in service once every node agrees; replicas must have synced before a failover.
  const masters = await until(async () => {
    if (!(await healthy())) return undefined;
    const roles = await Promise.all(alive().map(async (n) => ({ node: n, ...fields(await ask(n.port, ['INFO', 'replication'])) })));
    const synced = roles.filter((r) => r.role === 'master' && r.slave0?.includes('state=online')).map((r) => r.node);
    return synced.length === 3 ? synced : undefined;
  }, 'the cluster to be ok, every slot served, every master with a synced replica').catch(async (e) => {
    await stopNodes();
    throw e;
  });

  const masterOf = async (key: string) => byPort((await masterPortOfSlot(alive()[0]!.port, await slotOf(key)))!);
  const url = `redis://127.0.0.1:${masters[0]!.port}`;
  // A node-redis cluster client learns a new master only from a MOVED reply, which a dead master
  // never sends: readers reconnect after each failover this topology makes.
  let failovers = 0;
  const connect = async () => {
    const cluster = createCluster({ rootNodes: alive().map((n) => ({ url: `redis://127.0.0.1:${n.port}` })) });
    cluster.on('error', () => {});
    return cluster.connect();
  };
  const { reader, closeAll } = readers(async () => {
    let cluster = await connect();
    let seen = failovers;
    const current = async () => {
      if (seen !== failovers) {
        cluster.destroy();
        [cluster, seen] = [await connect(), failovers];
      }
      return cluster;
    };
    return readerOver(
      {
        get: async (key) => (await current()).get(key),
        set: async (key, value, options) => (await current()).set(key, value, options),
        pTTL: async (key) => (await current()).pTTL(key),
        del: async (key) => (await current()).del(key),
      },
      async () => {
        const c = await current();
        return Promise.all(c.masters.map((m) => c.nodeClient(m)));
      },
      async () => (seen === failovers ? cluster.close() : cluster.destroy()),
    );
  });

  return {
    url,
    env: { REDIS_URL: url, REDIS_CLUSTER: '1' },
    nodes,
    reader,
    masterOf,
    async killMasterOf(key) {
      const slot = await slotOf(key);
      const killed = await masterOf(key);
      killed.child.proc.kill('SIGKILL');
      const killedAt = Date.now();
      const promoted = await until(
        async () => {
          const ports = new Set(await Promise.all(alive().map((n) => masterPortOfSlot(n.port, slot))));
          const [port] = ports;
          return ports.size === 1 && port !== undefined && port !== killed.port && (await healthy()) ? byPort(port) : undefined;
        },
        `a replica of ${killed.port} to be promoted and the cluster to be ok again`,
        30_000,
      );
      failovers++;
      return { killed, promoted, killedAt, promotedAt: Date.now() };
    },
    async stop() {
      await closeAll();
      await stopNodes();
    },
  };
}

/**
 * A primary and two replicas watched by three Sentinels (quorum 2), all on loopback. A primary
 * silent for 1 s is down (`down-after-milliseconds`), so a replica is promoted within seconds.
 */
export async function startRedisSentinel(name = 'bff'): Promise<RedisSentinel> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bff-redis-sentinel-'));
  const nodes: RedisNode[] = [];
  const sentinelNodes: RedisNode[] = [];
  const stopAll = async () => {
    await Promise.all([...sentinelNodes, ...nodes].map((n) => n.child.stop()));
    rmSync(root, { recursive: true, force: true });
  };
  const [primaryPort, ...ports] = await freePorts(6);
  const [replicaPorts, sentinelPorts] = [ports.slice(0, 2), ports.slice(2)];
  try {
    const dirFor = (port: number) => {
      const dir = path.join(root, String(port));
      mkdirSync(dir);
      return dir;
    };
    await startNode(nodes, primaryPort!, ['--dir', dirFor(primaryPort!)]);
    await Promise.all(replicaPorts.map((p) => startNode(nodes, p, ['--dir', dirFor(p), '--replicaof', '127.0.0.1', String(primaryPort)])));
    // A Sentinel rewrites its configuration file as it learns: one writable file each.
    await Promise.all(
      sentinelPorts.map((port) => {
        const dir = dirFor(port);
        const conf = path.join(dir, 'sentinel.conf');
        const monitor = [`monitor ${name} 127.0.0.1 ${primaryPort} 2`, `down-after-milliseconds ${name} 1000`, `failover-timeout ${name} 3000`, `parallel-syncs ${name} 1`];
        writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'sentinel resolve-hostnames no', ...monitor.map((l) => `sentinel ${l}`), ''].join('\n'));
        return startNode(sentinelNodes, port, [conf, '--sentinel']);
      }),
    );
    // A failover needs the replicas synced and every Sentinel aware of the others (they vote).
    await until(async () => {
      for (const s of sentinelNodes) {
        const flat = (await ask(s.port, ['SENTINEL', 'MASTER', name])) as string[];
        const master = Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : [])));
        if (master['num-slaves'] !== '2' || master['num-other-sentinels'] !== '2') return undefined;
      }
      const replication = fields(await ask(primaryPort!, ['INFO', 'replication']));
      return [replication.slave0, replication.slave1].every((r) => r?.includes('state=online')) ? true : undefined;
    }, 'the Sentinels to know both replicas and each other');
  } catch (e) {
    await stopAll();
    throw e;
  }

  const sentinels = sentinelPorts.map((port) => ({ host: '127.0.0.1', port }));
  const liveSentinels = () => sentinelNodes.filter((s) => s.child.alive);
  /** The primary's port, as each live Sentinel reports it (one entry when they agree). */
  const reportedPrimaries = async () =>
    new Set(await Promise.all(liveSentinels().map(async (s) => Number(((await ask(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name])) as string[])[1]))));
  const primary = async () => {
    const [port] = await reportedPrimaries();
    return port!;
  };
  const { reader, closeAll } = readers(async () => {
    const sentinel = createSentinel({ name, sentinelRootNodes: sentinels });
    sentinel.on('error', () => {});
    await sentinel.connect();
    return readerOver(
      sentinel,
      async () => [sentinel],
      async () => void (sentinel.isOpen && (await sentinel.close())),
    );
  });

  return {
    name,
    sentinels,
    nodes,
    env: { REDIS_SENTINEL: `${name}@${sentinels.map((s) => `${s.host}:${s.port}`).join(',')}` },
    reader,
    primary,
    async killPrimary() {
      const port = await primary();
      const killed = nodes.find((n) => n.port === port)!;
      killed.child.proc.kill('SIGKILL');
      const killedAt = Date.now();
      const promoted = await until(
        async () => {
          const ports = await reportedPrimaries();
          const [port] = ports;
          if (ports.size !== 1 || port === killed.port) return undefined;
          return fields(await ask(port!, ['INFO', 'replication'])).role === 'master' ? nodes.find((n) => n.port === port) : undefined;
        },
        `the Sentinels to promote a replica of ${killed.port}`,
        30_000,
      );
      return { killed, promoted, killedAt, promotedAt: Date.now() };
    },
    async stop() {
      await closeAll();
      await stopAll();
    },
  };
}
