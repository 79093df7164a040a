/**
 * The floor: a bare Koa proxy that forwards /api/* to the sample API with one fixed, valid
 * access token: no session, no store, no MSAL, no security middleware. Whatever the BFF costs
 * beyond this is the price of being a BFF. The token arrives on stdin (never in argv or env).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';

const upstream = process.env.BENCH_UPSTREAM;
if (!upstream) throw new Error('BENCH_UPSTREAM is required');
let token = '';
for await (const chunk of process.stdin) token += String(chunk);
token = token.trim();

const FORWARD = ['accept', 'accept-language', 'content-type', 'content-length'];
const DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'trailer', 'te', 'set-cookie']);
const agent = new http.Agent({ keepAlive: true });

const app = new Koa();
app.use(async (ctx) => {
  if (!ctx.path.startsWith('/api/')) {
    ctx.status = 404;
    return;
  }
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  for (const name of FORWARD) {
    const value = ctx.get(name);
    if (value) headers[name] = value;
  }
  const target = new URL(`${ctx.path.slice('/api'.length)}${ctx.search}`, upstream);
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(target, { method: ctx.method, headers, agent });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
  ctx.status = res.statusCode ?? 502;
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined && !DROP.has(name)) ctx.set(name, value as string | string[]);
  }
  ctx.body = res;
});

const server = http.createServer(app.callback());
await new Promise<void>((resolve) => server.listen(0, 'localhost', () => resolve()));
const { port } = server.address() as AddressInfo;
process.stdout.write(`${JSON.stringify({ event: 'bench.ready', url: `http://localhost:${port}` })}\n`);
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
