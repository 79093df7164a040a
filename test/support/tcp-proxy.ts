import net from 'node:net';

/**
 * A TCP proxy on loopback whose existing connections can be made to go silent: bytes are dropped
 * both ways and nothing is closed or reset, as when a NAT entry expires or a peer vanishes.
 * New connections are forwarded as usual, unless silenceAllFor says otherwise.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const connections = new Set<{ client: net.Socket; upstream: net.Socket; silent: boolean }>();
  let silentUntil = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    const conn = { client, upstream, silent: Date.now() < silentUntil };
    connections.add(conn);
    client.on('data', (d) => void (conn.silent || upstream.write(d)));
    upstream.on('data', (d) => void (conn.silent || client.write(d)));
    const end = () => {
      connections.delete(conn);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    /** Every connection open now goes silent; later ones work. */
    silenceExisting(): number {
      for (const c of connections) c.silent = true;
      return connections.size;
    },
    /**
     * Every connection open now, and every one accepted in the next `ms`, goes silent for good
     * (accepted, then nothing: a load balancer whose backend is unreachable); later ones work.
     */
    silenceAllFor(ms: number): number {
      silentUntil = Date.now() + ms;
      return this.silenceExisting();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) {
          c.client.destroy();
          c.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
