import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../server/config';
import { startDevIdp } from '../../server/dev-idp';
import { devUsers, type DevUser } from '../../server/dev-idp/users';
import { createLogger } from '../../server/log';
import { startBff, type RunningBff } from '../../server/start';
import { createStores, STORE_TIMEOUT_MS } from '../../server/stores';
import { faultyStores, type Fault, type StoreCall } from './faulty-stores';
import { TEST_SESSION_KEY } from './stack';

/** A request one instance served, as it saw it: from its arrival to its request log line. */
export interface ServedRequest {
  instance: string;
  method: string;
  path: string;
  /** performance.now() when the request arrived, and when the BFF had answered it (logged it). */
  startedAt: number;
  endedAt: number;
  status: number;
  requestId: string;
  /** The user an `auth.signout` of this request signed out. */
  signedOut?: string;
  /** What `request.failed` logged for a 5xx: code and reason. */
  failure?: string;
  /** A back-channel logout's body (the logout_token form), as the IdP sent it. */
  body?: string;
}

export interface PairInstance {
  name: string;
  url: string;
  bff: RunningBff;
  faults: ReturnType<typeof faultyStores>;
  served: ServedRequest[];
  /** Requests that arrived and are not answered yet (an IdP that gave up waiting still counts). */
  inFlight(): number;
  /** Log events other than request lines, parsed. */
  events: Record<string, unknown>[];
}

/**
 * The request a store call is made for, and how many calls it has made before: lets a fault plan
 * draw per request rather than per call stream, so that which request meets which fault does not
 * depend on how concurrent requests interleave. The key is the `x-fault-key` header when the
 * client sends one, else the client's `fault-key` cookie with the method, path and how many such
 * requests came before; the instance's name comes first.
 */
export interface RequestOrigin {
  key: string;
  calls: number;
}

/** Keeps the body of back-channel logout requests while the BFF reads it as usual. */
class KeptBodyRequest extends http.IncomingMessage {
  kept?: Buffer[];

  override push(chunk: any, encoding?: BufferEncoding): boolean {
    if (chunk !== null && this.url === '/auth/backchannel-logout') (this.kept ??= []).push(Buffer.from(chunk, encoding));
    return super.push(chunk, encoding);
  }
}

/** The token cache key both instances share: either can open what the other wrote. */
const PAIR_TOKEN_CACHE_KEY = `pair:${Buffer.alloc(32, 7).toString('base64')}`;

/**
 * Two BFF instances in this process on one shared in-memory store (one Map, one lease table, one
 * clock), each through its own faultyStores wrapper bounded as a Redis call is (STORE_TIMEOUT_MS),
 * and one dev IdP, also in this process, that registers both origins (A first: the IdP sends its
 * back-channel and front-channel logouts to A). Every request each instance serves is recorded
 * with its outcome, requests the IdP makes included.
 *
 * `extraUsers` are seeded at the dev IdP for the pair's lifetime (password "password").
 */
export async function startFaultyPair(options: {
  rule: (instance: string, origin: () => RequestOrigin | undefined) => (call: StoreCall) => Fault;
  extraUsers?: string[];
  env?: Record<string, string>;
}) {
  const added: DevUser[] = (options.extraUsers ?? []).map((username, i) => ({
    id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
    username,
    password: 'password',
    name: `${username[0]!.toUpperCase()}${username.slice(1)} Example`,
    email: `${username}@example.test`,
  }));
  // The dev IdP looks its users up in this list on every sign-in; it is read-only to the server.
  (devUsers as DevUser[]).push(...added);
  const removeUsers = () => {
    for (const user of added) (devUsers as DevUser[]).splice((devUsers as DevUser[]).indexOf(user), 1);
  };

  const memory = new Map<string, unknown>();
  const inner = createStores({}, { memory });
  const servers = [http.createServer({ IncomingMessage: KeptBodyRequest }), http.createServer({ IncomingMessage: KeptBodyRequest })];
  for (const server of servers) await new Promise<void>((r) => server.listen(0, 'localhost', () => r()));
  const origins = servers.map((s) => `http://localhost:${(s.address() as AddressInfo).port}`);
  const grants: { grantType: string }[] = [];
  const grantErrors: { grantType: string; error: string }[] = [];
  const idp = await startDevIdp({ port: 0, bffOrigins: origins, onGrant: (g) => grants.push(g), onGrantError: (g) => grantErrors.push(g) });

  const requests = new AsyncLocalStorage<RequestOrigin>();
  const origin = () => requests.getStore();
  const instances: PairInstance[] = [];
  try {
    for (const [i, server] of servers.entries()) {
      const name = i === 0 ? 'A' : 'B';
      const served: ServedRequest[] = [];
      const events: Record<string, unknown>[] = [];
      const open = new Set<{ req: KeptBodyRequest; res: http.ServerResponse; startedAt: number }>();
      const early = new Map<string, { signedOut?: string; failure?: string }>();
      // Registered before the BFF's own listener: it sees each request first.
      server.on('request', (req: KeptBodyRequest, res: http.ServerResponse) => open.add({ req, res, startedAt: performance.now() }));
      const onLog = (line: string) => {
        const event = JSON.parse(line) as Record<string, any>;
        const id = String(event.requestId ?? '');
        if (event.event === 'auth.signout') early.set(id, { ...early.get(id), signedOut: String(event.user) });
        else if (event.event === 'request.failed') early.set(id, { ...early.get(id), failure: `${event.code}: ${event.reason}` });
        if (event.event !== 'request') {
          events.push(event);
          return;
        }
        const found = [...open].find((o) => o.res.getHeader('x-request-id') === id);
        if (!found) return;
        open.delete(found);
        served.push({
          instance: name,
          method: String(event.method),
          path: String(event.route),
          startedAt: found.startedAt,
          endedAt: performance.now(),
          status: Number(event.status),
          requestId: id,
          ...early.get(id),
          ...(found.req.kept ? { body: Buffer.concat(found.req.kept).toString('utf8') } : {}),
        });
        early.delete(id);
      };
      const { port } = server.address() as AddressInfo;
      const config = loadConfig({
        PORT: String(port),
        PUBLIC_URL: origins[i]!,
        SESSION_KEYS: TEST_SESSION_KEY,
        TOKEN_CACHE_KEY: PAIR_TOKEN_CACHE_KEY,
        OIDC_AUTHORITY: idp.issuer,
        OIDC_CLIENT_ID: idp.clientId,
        OIDC_CLIENT_SECRET: idp.clientSecret,
        OIDC_CA_FILE: idp.caFile,
        SAMPLE_API_PORT: '0',
        LOG_REQUESTS: '1',
        ...options.env,
      });
      const faults = faultyStores(inner, { timeoutMs: STORE_TIMEOUT_MS });
      faults.inject(options.rule(name, origin));
      const bff = await startBff(config, { server: server as unknown as http.Server, logger: createLogger(onLog), stores: faults.stores });
      // Every listener (ours, then the BFF's) runs inside the request's origin, and so does
      // whatever the BFF starts for the request, background work included.
      const listeners = server.listeners('request') as ((req: KeptBodyRequest, res: http.ServerResponse) => void)[];
      const before = new Map<string, number>();
      server.removeAllListeners('request');
      server.on('request', (req: KeptBodyRequest, res: http.ServerResponse) => {
        const header = req.headers['x-fault-key'];
        let key = typeof header === 'string' ? header : undefined;
        if (!key) {
          const cookie = /(?:^|;\s*)fault-key=([^;]+)/.exec(req.headers.cookie ?? '')?.[1] ?? 'no-key';
          const kind = `${cookie} ${req.method} ${req.url?.split('?')[0]}`;
          before.set(kind, (before.get(kind) ?? 0) + 1);
          key = `${kind} #${before.get(kind)}`;
        }
        requests.run({ key: `${name} ${key}`, calls: 0 }, () => {
          for (const listener of listeners) listener.call(server, req, res);
        });
      });
      instances.push({ name, url: origins[i]!, bff, faults, served, events, inFlight: () => open.size });
    }
  } catch (err) {
    for (const instance of instances) await instance.bff.close();
    for (const server of servers) if (server.listening) server.close();
    await idp.close();
    removeUsers();
    throw err;
  }

  return {
    a: instances[0]!,
    b: instances[1]!,
    instances,
    idp,
    memory,
    grants,
    grantErrors,
    users: [...devUsers],
    close: async () => {
      for (const instance of instances) await instance.bff.close();
      await idp.close();
      await inner.close();
      removeUsers();
    },
  };
}

export type FaultyPair = Awaited<ReturnType<typeof startFaultyPair>>;
