import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseTokenCacheKeys, TokenSealer } from '../../server/auth/token-encryption';
import type { RedisTopology } from './redis-topologies';
import { TEST_SESSION_KEY } from './stack';

const TSX = path.resolve('node_modules/.bin/tsx');

/** The token cache key every test BFF process shares, so a test can open what Redis holds. */
export const TEST_TOKEN_CACHE_KEY = `test:${Buffer.alloc(32, 42).toString('base64')}`;
export const testSealer = () => new TokenSealer(parseTokenCacheKeys(TEST_TOKEN_CACHE_KEY));

/** A child process whose output is kept, for reading what it said and for failure messages. */
export class Child {
  readonly output: string[] = [];
  constructor(readonly name: string, readonly proc: ChildProcess) {
    const keep = (chunk: Buffer) => this.output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
  }

  get alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** JSON lines it printed, parsed (other lines skipped). */
  events(): Record<string, unknown>[] {
    return this.output.flatMap((l) => {
      try {
        const v = JSON.parse(l);
        return v && typeof v === 'object' ? [v] : [];
      } catch {
        return [];
      }
    });
  }

  async waitFor<T>(find: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const found = find();
      if (found !== undefined) return found;
      if (!this.alive) throw new Error(`${this.name} exited before ${what}:\n${this.output.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.name}: timed out waiting for ${what}:\n${this.output.join('\n')}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (!this.alive) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (this.alive) this.proc.kill('SIGKILL');
  }
}

export function run(name: string, command: string, args: string[], env: Record<string, string>): Child {
  return new Child(name, spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** `npm run idp`: the dev IdP alone, in its own process. */
export async function startIdpProcess(bffOrigins: string[], env: Record<string, string> = {}) {
  const child = run('dev-idp', TSX, ['server/dev-idp/main.ts'], { DEV_IDP_PORT: '0', DEV_IDP_BFF_ORIGINS: bffOrigins.join(','), ...env });
  const ready = await child.waitFor(() => child.events().find((e) => e.event === 'dev-idp.ready'), 'the dev IdP to be ready');
  const caFile = String(ready.caFile);
  return {
    child,
    issuer: String(ready.issuer),
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    refreshGrants: () => child.events().filter((e) => e.event === 'idp.grant' && e.grantType === 'refresh_token').length,
    /** Refused token requests (e.g. invalid_grant for a reused rotated refresh token). */
    grantErrors: () => child.events().filter((e) => e.event === 'idp.grant_error'),
  };
}

export type IdpProcess = Awaited<ReturnType<typeof startIdpProcess>>;

/**
 * One BFF instance (`server/main.ts`) in its own process, pointed at the shared IdP and Redis.
 * Run by node itself with tsx as a loader, so `nodeFlags` such as --cpu-prof apply to the BFF
 * (Node 20 refuses --cpu-prof in NODE_OPTIONS).
 */
export async function startBffProcess(port: number, idp: IdpProcess, env: Record<string, string>, nodeFlags: string[] = []) {
  const url = `http://localhost:${port}`;
  const child = run(`bff:${port}`, process.execPath, [...nodeFlags, '--import', 'tsx', 'server/main.ts'], {
    PORT: String(port),
    PUBLIC_URL: url,
    OIDC_AUTHORITY: idp.issuer,
    OIDC_CLIENT_ID: 'bff',
    OIDC_CLIENT_SECRET: 'dev-only-bff-secret-not-for-production',
    OIDC_CA_FILE: idp.caFile,
    SESSION_KEYS: TEST_SESSION_KEY,
    TOKEN_CACHE_KEY: TEST_TOKEN_CACHE_KEY,
    SAMPLE_API_PORT: '0',
    LOG_REQUESTS: '0',
    ...env,
  });
  // Generous: several cold processes transpile the server at once on a shared 2-core CI machine.
  await child.waitFor(() => child.events().find((e) => e.event === 'bff.started'), `the BFF on ${port} to start`, 90_000);
  return { child, url };
}

/** A Redis server of the test's own, on its own port, with its data in a temporary folder. */
export async function startRedisServer(port?: number, dir = mkdtempSync(path.join(os.tmpdir(), 'bff-redis-'))) {
  const p = port ?? (await freePort());
  const child = run(`redis:${p}`, 'redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], {});
  await child.waitFor(() => (child.output.some((l) => /Ready to accept connections/.test(l)) ? true : undefined), 'redis-server to be ready');
  return { child, port: p, dir, url: `redis://127.0.0.1:${p}` };
}

export const uniquePrefix = (label: string) => `test-${label}-${randomBytes(4).toString('hex')}:`;

/**
 * Two BFF processes (A, B) on one Redis topology (by default the shared standalone Redis; keys
 * under a fresh prefix) and one dev IdP process that registers both origins (A first: it is where
 * the IdP delivers back-channel logout). `redis` reads that topology.
 */
export async function startInstancePair(label: string, idpEnv: Record<string, string> = {}, topology?: RedisTopology) {
  const { standaloneTopology } = await import('./redis-topologies');
  const redisTopology = topology ?? standaloneTopology();
  const [portA, portB] = [await freePort(), await freePort()];
  const idp = await startIdpProcess([`http://localhost:${portA}`, `http://localhost:${portB}`], idpEnv);
  const prefix = uniquePrefix(label);
  const env = { ...redisTopology.env, REDIS_KEY_PREFIX: prefix };
  const [a, b] = await Promise.all([startBffProcess(portA, idp, env), startBffProcess(portB, idp, env)]);
  const redis = await redisTopology.reader();
  return { idp, a, b, prefix, redis };
}

export type InstancePair = Awaited<ReturnType<typeof startInstancePair>>;

/** Stops what startInstancePair started and removes its keys; tolerates a half-started pair. */
export async function stopInstancePair(pair: Partial<InstancePair>) {
  await Promise.all([pair.a?.child.stop(), pair.b?.child.stop(), pair.idp?.child.stop()]);
  if (pair.redis) {
    await pair.redis.deleteAll(`${pair.prefix}*`);
    await pair.redis.close();
  }
}
