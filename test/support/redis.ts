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

/** A plain client for reading what the BFF left in Redis. */
export async function redisReader(url = REDIS_TEST_URL) {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return {
    client,
    async keys(pattern: string): Promise<string[]> {
      const found: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 500 })) found.push(...(Array.isArray(batch) ? batch : [batch]));
      return found;
    },
    async dump(pattern: string): Promise<Map<string, string>> {
      const out = new Map<string, string>();
      for (const key of await this.keys(pattern)) out.set(key, (await client.get(key)) ?? '');
      return out;
    },
    async deleteAll(pattern: string) {
      const keys = await this.keys(pattern);
      if (keys.length > 0) await client.del(keys);
    },
    close: () => client.close(),
  };
}
