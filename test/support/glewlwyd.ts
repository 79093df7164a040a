import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadConfig } from '../../server/config';
import { ensureDevCertificates } from '../../server/dev-idp/certs';
import { silentLogger, type Logger } from '../../server/log';
import { startBff } from '../../server/start';
import type { Stores } from '../../server/stores';
import { TestBrowser } from './browser';
import { configureGlewlwyd, type GlewlwydRealm } from './glewlwyd/setup';
import { Child, freePort } from './processes';
import { Stack, TEST_SESSION_KEY } from './stack';

export {
  ANOTHER_APP,
  GLEWLWYD_PASSWORD,
  GLEWLWYD_SCOPES,
  GLEWLWYD_USERS,
  GlewlwydApi,
  glewlwydLogin,
  registerClient,
  setLogoutChannels,
  type GlewlwydClient,
  type GlewlwydUser,
} from './glewlwyd/setup';
export {
  currentGlewlwydUser,
  endSessionUrlOf,
  signInAnotherApp,
  signInWithGlewlwyd,
  signInWithoutPassword,
  signOutAtGlewlwyd,
  type AnotherAppSignIn,
  type GlewlwydSignIn,
  type GlewlwydSignOut,
  type PasswordlessAttempt,
} from './glewlwyd/flows';

/** Debian's `glewlwyd` package (2.7.5 on bookworm): the binary, its schema and its web app. */
export const GLEWLWYD_BIN = '/usr/bin/glewlwyd';
const INIT_SQL = '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz';
const WEBAPP = '/usr/share/glewlwyd/webapp';
const WEBAPP_CONFIG = '/etc/glewlwyd/config-2.7.json/config.json';
const MODULES = '/usr/lib/glewlwyd';
const INSTALL_HINT = 'apt-get install -y --no-install-recommends glewlwyd sqlite3';

const required = ['1', 'true'].includes(process.env.REQUIRE_GLEWLWYD ?? '');

/** What is missing for the Glewlwyd tests, or undefined when nothing is. */
function missing(): string | undefined {
  for (const file of [GLEWLWYD_BIN, INIT_SQL, WEBAPP, WEBAPP_CONFIG, `${MODULES}/plugin/libprotocol_oidc.so`]) {
    if (!existsSync(file)) return `no ${file}`;
  }
  if (spawnSync('sqlite3', ['-version'], { stdio: 'ignore', timeout: 5000 }).status !== 0) return 'no sqlite3 command';
  return undefined;
}

/**
 * Whether the Glewlwyd tests can run. With REQUIRE_GLEWLWYD=1 (CI) a missing package is an
 * error rather than a skip, so the suite never passes by silently leaving them out.
 */
export function glewlwydAvailable(): boolean {
  const why = missing();
  if (!why) return true;
  if (required) throw new Error(`REQUIRE_GLEWLWYD=1 but Glewlwyd cannot run: ${why} (${INSTALL_HINT})`);
  console.warn(`Glewlwyd tests skipped: ${why} (install it: ${INSTALL_HINT})`);
  return false;
}

export interface GlewlwydOptions {
  /** The BFF's origin (PUBLIC_URL): redirect, post-logout and logout URIs are registered under it. */
  bffOrigin: string;
  /** Name of the OIDC plugin instance: the authority is https://localhost:<port>/api/<name>. */
  pluginName?: string;
  clientId?: string;
  clientSecret?: string;
  accessTokenSeconds?: number;
  /** Glewlwyd's own log level (its output is kept in `child.output`). */
  logLevel?: 'ERROR' | 'WARNING' | 'INFO' | 'DEBUG';
}

export interface Glewlwyd extends GlewlwydRealm {
  /** https://localhost:<port>: Glewlwyd's root (web app under /, API under /api). */
  url: string;
  /** The OIDC authority and issuer: `${url}/api/${pluginName}` (what OIDC_AUTHORITY takes). */
  authority: string;
  issuer: string;
  /** PEM of the CA that signed Glewlwyd's TLS certificate, and a file holding it (OIDC_CA_FILE). */
  ca: string;
  caFile: string;
  /** The running process (its output, for failure messages). */
  child: Child;
  /** Milliseconds from spawn to a configured provider. */
  startupMs: number;
  close(): Promise<void>;
}

/**
 * Glewlwyd on a free loopback port with its own CA, a fresh SQLite database, a private copy of
 * its web app, and an OIDC plugin, scopes, users (alice, bob) and a confidential client for the
 * BFF created through its admin REST API.
 */
export async function startGlewlwyd(options: GlewlwydOptions): Promise<Glewlwyd> {
  const why = missing();
  if (why) throw new Error(`Glewlwyd cannot run: ${why} (${INSTALL_HINT})`);
  const started = Date.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bff-glewlwyd-'));
  let child: Child | undefined;
  try {
    // The dev IdP's generator: a CA and a leaf for localhost, 127.0.0.1 and ::1, written into dir.
    const certs = await ensureDevCertificates(dir);
    const files = {
      ca: certs.caFile,
      cert: path.join(dir, 'localhost.pem'),
      key: path.join(dir, 'localhost-key.pem'),
      db: path.join(dir, 'glewlwyd.sqlite3'),
      conf: path.join(dir, 'glewlwyd.conf'),
      webapp: path.join(dir, 'webapp'),
    };
    createDatabase(files.db);
    copyWebapp(files.webapp);

    let port = 0;
    // A free port can be taken between freePort() and Glewlwyd's bind: try another, a few times.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      writeFileSync(files.conf, glewlwydConf({ port, files, logLevel: options.logLevel ?? 'WARNING' }));
      child = new Child(`glewlwyd:${port}`, spawn(GLEWLWYD_BIN, [`--config-file=${files.conf}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
      try {
        await waitUntilServing(child, `https://localhost:${port}/config`, certs.ca);
        break;
      } catch (err) {
        await child.stop();
        if (attempt >= 3) throw err;
      }
    }
    const url = `https://localhost:${port}`;
    // About 0.5 s here. The test browser has no timeout of its own: past this one the process is
    // stopped below, which fails any request still waiting.
    const realm = await within(
      30_000,
      `configuring ${child.name} through its admin API`,
      configureGlewlwyd({
        url,
        ca: certs.ca,
        bffOrigin: options.bffOrigin.replace(/\/+$/, ''),
        pluginName: options.pluginName ?? 'oidc',
        clientId: options.clientId ?? 'bff',
        clientSecret: options.clientSecret ?? 'glewlwyd-test-bff-secret-0123456789',
        accessTokenSeconds: options.accessTokenSeconds ?? 3600,
      }),
    );
    const running = child;
    return {
      ...realm,
      url,
      authority: realm.issuer,
      ca: certs.ca,
      caFile: files.ca,
      child: running,
      startupMs: Date.now() - started,
      close: async () => {
        await running.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await child?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function createDatabase(file: string) {
  // One transaction: statement by statement, each commit's fsync makes this take 2 s instead of
  // 0.2 s. WAL (kept in the file) makes Glewlwyd's own writes cheaper too.
  const sql = `BEGIN;\n${gunzipSync(readFileSync(INIT_SQL)).toString('utf8')}\nCOMMIT;\nPRAGMA journal_mode=WAL;\n`;
  const result = spawnSync('sqlite3', ['-bail', file], { input: sql, timeout: 20_000, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`sqlite3 could not load ${INIT_SQL}: ${result.error?.message ?? result.stderr}`);
}

/**
 * Debian's web app folder holds config.json as a symlink to /etc/glewlwyd/config-2.7.json, a
 * directory (the file is inside it), and its jQuery, Bootstrap, Popper and Fork Awesome files as
 * symlinks into /usr/share; Glewlwyd's static file server refuses any file whose real path leaves
 * static_files_path (a 404, and login.html in a browser never gets past "Loading..."): copy the
 * app with the files those links name, and a real config.json.
 */
function copyWebapp(to: string) {
  cpSync(WEBAPP, to, { recursive: true, dereference: true, filter: (src) => src !== path.join(WEBAPP, 'config.json') });
  cpSync(WEBAPP_CONFIG, path.join(to, 'config.json'));
}

function glewlwydConf(o: { port: number; files: { cert: string; key: string; db: string; webapp: string }; logLevel: string }): string {
  const q = (s: string) => JSON.stringify(s);
  const mime = [
    ['.html', 'text/html'],
    ['.css', 'text/css'],
    ['.js', 'application/javascript'],
    ['.json', 'application/json'],
    ['.png', 'image/png'],
    ['.jpg', 'image/jpeg'],
    ['.svg', 'image/svg+xml'],
    ['.ico', 'image/x-icon'],
    ['.woff', 'font/woff'],
    ['.woff2', 'font/woff2'],
    ['.ttf', 'font/ttf'],
  ];
  return `# Written by test/support/glewlwyd.ts for one test run.
port=${o.port}
bind_address="127.0.0.1"
external_url=${q(`https://localhost:${o.port}`)}
login_url="login.html"
api_prefix="api"
static_files_path=${q(o.files.webapp + '/')}
allow_origin="*"
log_mode="console"
log_level=${q(o.logLevel)}
cookie_secure=1
cookie_same_site="empty"
session_expiration=86400
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
plugin_api_run_enabled=""
add_x_frame_option_header_deny=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="${MODULES}/user"
client_module_path="${MODULES}/client"
user_auth_scheme_module_path="${MODULES}/scheme"
plugin_module_path="${MODULES}/plugin"
use_secure_connection=true
secure_connection_key_file=${q(o.files.key)}
secure_connection_pem_file=${q(o.files.cert)}
hash_algorithm="SHA512"
database =
{
  type = "sqlite3"
  path = ${q(o.files.db)}
};
static_files_mime_types =
(
${mime.map(([ext, type]) => `  { extension = ${q(ext!)} mime_type = ${q(type!)} }`).join(',\n')}
)
`;
}

/** Bounded: Glewlwyd answers its /config within a second here; 15 s is generous. */
async function waitUntilServing(child: Child, configUrl: string, ca: string, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!child.alive) throw new Error(`${child.name} exited at start-up:\n${child.output.join('\n')}`);
    const status = await new Promise<number>((resolve) => {
      const req = https.get(configUrl, { ca, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${child.name}: no answer at ${configUrl} within ${timeoutMs} ms:\n${child.output.join('\n')}`);
}

/**
 * Glewlwyd and a BFF configured against it (OIDC_AUTHORITY & co.). The BFF's port is bound
 * first, so its origin is known when Glewlwyd registers the redirect and logout URIs.
 */
export async function startGlewlwydStack(
  env: Record<string, string> = {},
  options: { logger?: Logger; stores?: Stores; glewlwyd?: Omit<GlewlwydOptions, 'bffOrigin'> } = {},
): Promise<{ glewlwyd: Glewlwyd; stack: Stack; close(): Promise<void> }> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, 'localhost', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const publicUrl = `http://localhost:${port}`;
  let glewlwyd: Glewlwyd | undefined;
  try {
    glewlwyd = await startGlewlwyd({ ...options.glewlwyd, bffOrigin: publicUrl });
    const config = loadConfig({
      PORT: String(port),
      PUBLIC_URL: publicUrl,
      OIDC_AUTHORITY: glewlwyd.authority,
      OIDC_CLIENT_ID: glewlwyd.clientId,
      OIDC_CLIENT_SECRET: glewlwyd.clientSecret,
      OIDC_CA_FILE: glewlwyd.caFile,
      API_SCOPES: 'api',
      // Glewlwyd's logout tokens carry no exp (Back-Channel Logout draft 06).
      LOGOUT_TOKEN_EXP_OPTIONAL: '1',
      SAMPLE_API_PORT: '0',
      SESSION_KEYS: TEST_SESSION_KEY,
      LOG_REQUESTS: '0',
      ...env,
    });
    const bff = await startBff(config, { server, logger: options.logger ?? silentLogger, stores: options.stores });
    const stack = new Stack(bff);
    const running = glewlwyd;
    return {
      glewlwyd: running,
      stack,
      close: async () => {
        await stack.close();
        await running.close();
      },
    };
  } catch (err) {
    server.close();
    await glewlwyd?.close();
    throw err;
  }
}

/** Grants Glewlwyd's token endpoint made to one client for one user. */
export interface GlewlwydGrants {
  code: number;
  refresh: number;
}

/**
 * What Glewlwyd's token endpoint granted `clientId` for `username`, read from its log (start it
 * with logLevel 'INFO'). A code grant logs "Refresh token generated" and "Access token
 * generated"; a refresh grant (refresh-token-rolling: no new refresh token) logs the access token
 * alone. Glewlwyd logs before it answers, but the lines come through a pipe: a short pause lets
 * those of grants already answered arrive.
 */
export async function glewlwydGrants(glewlwyd: Pick<Glewlwyd, 'child'>, clientId: string, username: string): Promise<GlewlwydGrants> {
  await new Promise((r) => setTimeout(r, 100));
  const lines = glewlwyd.child.output;
  if (!lines.some((l) => l.includes('Glewlwyd INFO:'))) throw new Error(`${glewlwyd.child.name} logs no INFO lines: start it with logLevel 'INFO' to count its grants`);
  const generated = (what: string) => lines.filter((l) => l.includes(`- ${what} generated for client '${clientId}' granted by user '${username}'`)).length;
  const code = generated('Refresh token');
  return { code, refresh: generated('Access token') - code };
}

/** A test browser that trusts Glewlwyd's CA (the BFF itself is plain http in tests). */
export function glewlwydBrowser(glewlwyd: Pick<Glewlwyd, 'ca'>): TestBrowser {
  return new TestBrowser(glewlwyd.ca);
}
