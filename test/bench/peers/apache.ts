/**
 * Apache httpd as a peer of the BFF: Debian's `apache2` with mod_proxy, alone with one fixed
 * token (a floor, like the bare Koa proxy) or behind mod_auth_openidc (Debian's
 * `libapache2-mod-auth-openidc`), the module a user would pick instead of a BFF. Each instance
 * gets its own config in a temporary folder and runs in the foreground as a child of the
 * benchmark, on a loopback port; the packages are installed when missing (as root only).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Child } from '../../support/processes';
import { processTreeCpuMs } from '../processes';

const HTTPD = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
const PACKAGES = ['apache2', 'libapache2-mod-auth-openidc'];

export interface ApacheVersions {
  httpd: string;
  modAuthOpenidc: string;
}

const installed = () => existsSync(HTTPD) && existsSync(path.join(MODULES, 'mod_auth_openidc.so'));

/**
 * Makes sure Debian's apache2 and libapache2-mod-auth-openidc are there, installing them with
 * apt-get when missing (root only). Installing apache2 would start Debian's default site on
 * port 80; a policy-rc.d that says "not now" (the usual way in containers) keeps it stopped.
 */
export function ensureApache(log: (line: string) => void): ApacheVersions {
  if (!installed()) {
    if (process.getuid?.() !== 0) {
      throw new Error(`Apache httpd and mod_auth_openidc are not installed; install them with: sudo apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}`);
    }
    log(`Installing ${PACKAGES.join(' ')} (apt-get)…`);
    const policy = '/usr/sbin/policy-rc.d';
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\n# the benchmark: do not start services while installing\nexit 101\n', { mode: 0o755 });
    try {
      const install = () => execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { stdio: 'pipe', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      try {
        install();
      } catch {
        execFileSync('apt-get', ['update'], { stdio: 'pipe' });
        install();
      }
    } finally {
      if (ownPolicy) rmSync(policy, { force: true });
    }
    if (!installed()) throw new Error(`apt-get ran, but ${HTTPD} or mod_auth_openidc.so is still missing`);
  }
  const httpd = /Apache\/(\S+)/.exec(execFileSync(HTTPD, ['-v'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  let modAuthOpenidc = 'unknown';
  try {
    modAuthOpenidc = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'libapache2-mod-auth-openidc'], { encoding: 'utf8' }).trim();
  } catch {
    // not a Debian package: the version stays unknown
  }
  return { httpd, modAuthOpenidc };
}

/** mod_auth_openidc in front of the API, configured as its documentation (auth_openidc.conf) describes. */
export interface OpenidcSettings {
  issuer: string;
  caFile: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  /** `shm` (one machine) or `redis` (shared by several servers, at `redisServer`). */
  cache: 'shm' | 'redis';
  /** host:port of the Redis server, for cache `redis`. */
  redisServer?: string;
  /** OIDCRedisCacheDatabase (0 when not given). */
  redisDatabase?: number;
}

export interface ApacheOptions {
  name: string;
  port: number;
  /** The API that /api/* forwards to, e.g. http://127.0.0.1:1234 (no trailing slash). */
  upstream: string;
  /** Either a fixed access token (mod_proxy alone) or mod_auth_openidc. */
  fixedToken?: string;
  openidc?: OpenidcSettings;
}

export interface ApacheInstance {
  child: Child;
  url: string;
  dir: string;
  /** CPU time (ms) of httpd: the parent and every worker process, those gone included. */
  cpuMs(): number | undefined;
  errorLog(): string;
  stop(): Promise<void>;
}

/** The httpd.conf of one instance: Debian's defaults for the event MPM and keep-alive, no access log. */
export function apacheConfig(options: ApacheOptions, dir: string, asRoot: boolean): string {
  const { port, upstream, fixedToken, openidc } = options;
  const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
  const modules = ['mpm_event', 'authn_core', 'authz_core', 'authz_user', 'headers', 'proxy', 'proxy_http', ...(openidc ? ['auth_openidc'] : [])];
  const lines = [
    `# ${options.name}: written by the benchmark (test/bench/peers/apache.ts)`,
    `ServerRoot ${quote(dir)}`,
    'ServerName localhost',
    `Listen 127.0.0.1:${port}`,
    `PidFile ${quote(path.join(dir, 'httpd.pid'))}`,
    `DefaultRuntimeDir ${quote(path.join(dir, 'run'))}`,
    `ErrorLog ${quote(path.join(dir, 'error.log'))}`,
    `LogLevel ${process.env.BENCH_APACHE_LOG_LEVEL ?? 'warn'}`,
    ...(asRoot ? ['User www-data', 'Group www-data'] : []),
    ...modules.map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`),
    // Debian's apache2.conf and mods-available/mpm_event.conf.
    'Timeout 300',
    'KeepAlive On',
    // "We recommend that this setting be kept to a high value for maximum server performance"
    // (the MaxKeepAliveRequests documentation); Node's servers have no limit either.
    'MaxKeepAliveRequests 0',
    'KeepAliveTimeout 5',
    'StartServers 2',
    'MinSpareThreads 25',
    'MaxSpareThreads 75',
    'ThreadLimit 64',
    'ThreadsPerChild 25',
    'MaxRequestWorkers 150',
    'MaxConnectionsPerChild 0',
    // No access log: the BFF and the bare proxy log no requests either (LOG_REQUESTS=0).
    '',
  ];
  if (fixedToken) {
    lines.push('<Location /api/>', `  RequestHeader set Authorization ${quote(`Bearer ${fixedToken}`)}`, '</Location>');
  }
  if (openidc) {
    const ca = path.join(dir, 'idp-ca.pem');
    lines.push(
      `OIDCProviderMetadataURL ${quote(`${openidc.issuer}/.well-known/openid-configuration`)}`,
      `OIDCCABundlePath ${quote(ca)}`,
      `OIDCClientID ${quote(openidc.clientId)}`,
      `OIDCClientSecret ${quote(openidc.clientSecret)}`,
      // The dev IdP takes the secret in the body, and requires PKCE.
      'OIDCProviderTokenEndpointAuth client_secret_post',
      'OIDCPKCEMethod S256',
      `OIDCScope ${quote(openidc.scope)}`,
      // Registered at the dev IdP as a BFF origin's callback.
      `OIDCRedirectURI http://localhost:${port}/auth/callback`,
      `OIDCCryptoPassphrase ${randomBytes(32).toString('hex')}`,
      'OIDCSessionType server-cache',
      `OIDCCacheType ${openidc.cache}`,
      ...(openidc.cache === 'redis' ? [`OIDCRedisCacheServer ${openidc.redisServer ?? '127.0.0.1:6379'}`, `OIDCRedisCacheDatabase ${openidc.redisDatabase ?? 0}`] : []),
      // Claims and tokens as environment variables only: the Authorization header is built from
      // OIDC_access_token, and no OIDC_* header (the access token among them) reaches the API.
      'OIDCPassClaimsAs environment',
      '<Location /auth/callback>',
      '  AuthType openid-connect',
      '  Require valid-user',
      '</Location>',
      '<Location /api/>',
      '  AuthType openid-connect',
      '  Require valid-user',
      '  RequestHeader set Authorization "Bearer %{OIDC_access_token}e" env=OIDC_access_token',
      // The session cookie is for this server, not for the API.
      '  RequestHeader unset Cookie',
      '</Location>',
    );
  }
  lines.push(`ProxyPass /api/ ${upstream}/`, '');
  return lines.join('\n');
}

/** Starts one httpd in the foreground (`apache2 -f <conf> -DFOREGROUND`); resolves once it accepts connections. */
export async function startApache(options: ApacheOptions): Promise<ApacheInstance> {
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), `bench-${options.name}-`));
  // Workers run as www-data when started by root: they read the CA bundle.
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'run'), { mode: 0o755 });
  if (options.openidc) {
    copyFileSync(options.openidc.caFile, path.join(dir, 'idp-ca.pem'));
    chmodSync(path.join(dir, 'idp-ca.pem'), 0o644);
  }
  const conf = path.join(dir, 'httpd.conf');
  // The config holds a token or the client secret: readable by the parent (root) only.
  writeFileSync(conf, apacheConfig(options, dir, asRoot), { mode: 0o600 });
  const proc = spawn(HTTPD, ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
  const child = new Child(options.name, proc);
  const errorLog = () => {
    try {
      return readFileSync(path.join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: options.port });
      socket.once('connect', () => (socket.end(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
  const until = Date.now() + 20_000;
  while (!(await accepts())) {
    if (!child.alive || Date.now() > until) {
      await child.stop();
      throw new Error(`${options.name} (httpd) did not start:\n${child.output.join('\n')}\n${errorLog()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url: `http://localhost:${options.port}`,
    dir,
    cpuMs: () => processTreeCpuMs(proc.pid),
    errorLog,
    stop: async () => {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
