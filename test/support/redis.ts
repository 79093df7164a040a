import net from 'node:net';
import { createClient } from '@keyv/redis';

export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

/** Whether a Redis server answers at REDIS_TEST_URL; with REQUIRE_REDIS=1 a missing one is a failure. */
export async function redisAvailable(): Promise<boolean> {
  const { hostname, port } = new URL(REDIS_TEST_URL);
  const up = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(500);
    socket.once('connect', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
  if (!up) {
    if (process.env.REQUIRE_REDIS === '1') throw new Error(`REQUIRE_REDIS=1 but no Redis answers at ${REDIS_TEST_URL}`);
    console.warn(`Redis tests skipped: no Redis answers at ${REDIS_TEST_URL} (start one: redis-server --daemonize yes --port 6379 --save "" --appendonly no)`);
  }
  return up;
}

/** What a test may do with the Redis the BFF uses, whatever its topology: tests never hold a raw client. */
export interface RedisReader {
  /** Every key matching `pattern`, on every node that holds keys (each master of a cluster). */
  keys(pattern: string): Promise<string[]>;
  /** Those keys with their values. */
  dump(pattern: string): Promise<Map<string, string>>;
  deleteAll(pattern: string): Promise<void>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { KEEPTTL: true }): Promise<void>;
  pTTL(key: string): Promise<number>;
  close(): Promise<void>;
}

/** The commands a reader sends by key; node-redis's client, cluster and sentinel clients all have them. */
export interface KeyCommands {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options?: { KEEPTTL: true }): Promise<unknown>;
  pTTL(key: string): Promise<number>;
  del(key: string): Promise<number>;
}

/** A connection to one node that holds keys, scanned by `keys`. */
export interface Scannable {
  scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string; keys: string[] }>;
}

/**
 * A reader over `client`, scanning the nodes `holders()` lists. Deletes go one key at a time:
 * in a cluster, keys of different slots cannot go in one command.
 */
export function readerOver(client: KeyCommands, holders: () => Promise<Scannable[]>, close: () => Promise<void>): RedisReader {
  const keys = async (pattern: string) => {
    const found: string[] = [];
    for (const node of await holders()) {
      let cursor = '0';
      do {
        const reply = await node.scan(cursor, { MATCH: pattern, COUNT: 500 });
        found.push(...reply.keys);
        cursor = String(reply.cursor);
      } while (cursor !== '0');
    }
    return found;
  };
  return {
    keys,
    async dump(pattern) {
      const out = new Map<string, string>();
      for (const key of await keys(pattern)) out.set(key, (await client.get(key)) ?? '');
      return out;
    },
    async deleteAll(pattern) {
      await Promise.all((await keys(pattern)).map((key) => client.del(key)));
    },
    get: (key) => client.get(key),
    set: async (key, value, options) => void (await client.set(key, value, options)),
    pTTL: (key) => client.pTTL(key),
    close,
  };
}

/** A reader of the standalone Redis at `url` (by default the shared one at REDIS_TEST_URL). */
export async function redisReader(url = REDIS_TEST_URL): Promise<RedisReader> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return readerOver(client, async () => [client], async () => void (client.isOpen && (await client.close())));
}
