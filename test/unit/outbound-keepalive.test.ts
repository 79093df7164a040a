import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { upstreamClient } from '../../server/api/upstream';
import { createOutbound } from '../../server/http/outbound';

const servers: http.Server[] = [];
afterEach(() => Promise.all(servers.splice(0).map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r))))));

/** A server that keeps idle connections `keepAliveMs` (and says so in Keep-Alive: timeout=…), counting connections. */
async function server(keepAliveMs: number) {
  const s = http.createServer((_req, res) => res.end('ok'));
  s.keepAliveTimeout = keepAliveMs;
  let connections = 0;
  s.on('connection', () => connections++);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/`, connections: () => connections };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each pooled HTTP client of the BFF: to the identity provider (outbound.ts) and to the API (upstream.ts). */
const clients: [string, () => (url: string) => Promise<string>][] = [
  ['the identity provider', () => {
    const { request } = createOutbound();
    return async (url) => (await request(url)).body;
  }],
  ['the API', () => {
    const call = upstreamClient();
    return async (url) => {
      const res = await call({ target: new URL(url), method: 'GET', headers: {}, body: { kind: 'none' }, source: undefined as never, limit: 0, timeoutMs: 5000 } as never);
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString();
    };
  }],
];

describe.each(clients)('pooled connections to %s', (_, open) => {
  it("are reused while idle for less than the server's announced keep-alive, and dropped before the server drops them", async () => {
    const idp = await server(2000); // Keep-Alive: timeout=2: the client drops idle sockets after 1 s
    const get = open();
    await get(idp.url);
    await sleep(300);
    await get(idp.url);
    expect(idp.connections()).toBe(1);
    // Past the client's limit, before the server's: a new connection, never the one being closed.
    await sleep(1500);
    expect(await get(idp.url)).toBe('ok');
    expect(idp.connections()).toBe(2);
  });
});
