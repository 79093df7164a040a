// `npm run dev`: the whole development setup with one command and one prefixed log.
//   [idp]    the dev IdP alone on https://localhost:4443 (restarts when its files change)
//   [bff]    the BFF on :3000 (restarts on change), pointed at that IdP with OIDC_* variables
//   [spa]    Vite's dev server for the SPA on http://localhost:5173, hot reload; it proxies
//            /auth and /api to the BFF, so the BFF's PUBLIC_URL is Vite's origin and every
//            redirect (sign-in, sign-out, front-channel iframe) comes back through it
//   [other]  Vite's dev server for "another app" on http://localhost:5174
// The IdP runs on its own so that a BFF restart keeps the IdP session: after one, "Sign in
// again" goes through without a password (the BFF's own sessions live in memory unless
// REDIS_URL is set). A development tool: it reads the environment only to pass it on (and for
// the ports), before any configuration is loaded.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';

const SPA_ORIGIN = 'http://localhost:5173';
const bffPort = process.env.PORT ?? '3000';
const idpPort = process.env.DEV_IDP_PORT ?? '4443';
const isWindows = process.platform === 'win32';
const tty = process.stdout.isTTY;
const COLORS: Record<string, number> = { idp: 35, bff: 36, spa: 32, other: 33, dev: 90 };

const children: ChildProcess[] = [];
const exited = new Set<ChildProcess>();
let stopping = false;

// The IdP first: the BFF reads its discovery document and CA when it starts.
const idp = start('idp', 'tsx', ['watch', 'server/dev-idp/main.ts'], { DEV_IDP_PORT: idpPort, DEV_IDP_BFF_ORIGINS: SPA_ORIGIN });
start('spa', 'vite', [], { BFF_URL: process.env.BFF_URL ?? `http://localhost:${bffPort}` });
start('other', 'vite', ['--config', 'client/another-app/vite.config.ts'], { ANOTHER_APP_AUTHORITY: `https://localhost:${idpPort}` });

// The IdP prints the variables that point a BFF at it (OIDC_AUTHORITY=… OIDC_CA_FILE=…).
let bffStarted = false;
createInterface({ input: idp.stdout! }).on('line', (line) => {
  if (bffStarted || !line.includes('OIDC_AUTHORITY=')) return;
  bffStarted = true;
  const oidc = Object.fromEntries(line.trim().split(/\s+/).map((pair) => pair.split('=', 2) as [string, string]));
  start('bff', 'tsx', ['watch', 'server/main.ts'], { ...oidc, PUBLIC_URL: SPA_ORIGIN, PORT: bffPort });
  log(`open ${SPA_ORIGIN} (alice / password); another app: http://localhost:5174`);
});

/** Runs a tool of node_modules/.bin (not through npx: no extra process, no npm chatter). */
function start(name: string, tool: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(path.join('node_modules', '.bin', isWindows ? `${tool}.cmd` : tool), args, {
    env: { ...process.env, ...(tty ? { FORCE_COLOR: '1' } : {}), ...env },
    // stdin ignored: a background process group reading the terminal would be stopped (SIGTTIN).
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so one signal reaches the tool and everything under it, and a Ctrl-C
    // in the terminal reaches only this runner, which forwards it once.
    detached: !isWindows,
    shell: isWindows,
  });
  children.push(child);
  prefix(child.stdout!, process.stdout, name);
  prefix(child.stderr!, process.stderr, name);
  child.on('error', (err) => {
    log(`could not start ${name}: ${err.message}`);
    stop('SIGTERM', 1);
  });
  child.on('close', (code, signal) => {
    exited.add(child);
    if (!stopping) {
      log(`${name} exited (${signal ?? `code ${code}`}); stopping the others`);
      stop('SIGTERM', code || 1);
    } else if (children.every((c) => exited.has(c))) {
      process.exit(process.exitCode ?? 0);
    }
  });
  return child;
}

function tag(name: string): string {
  const text = `[${name}]`.padEnd(8);
  return tty ? `\x1b[${COLORS[name] ?? 0}m${text}\x1b[0m` : text;
}

function prefix(from: Readable, to: Writable, name: string) {
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => to.write(`${tag(name)}${line}\n`));
}

function log(message: string) {
  process.stderr.write(`${tag('dev')}${message}\n`);
}

function signal(child: ChildProcess, sig: NodeJS.Signals) {
  if (exited.has(child) || child.pid === undefined) return;
  try {
    if (isWindows) child.kill(sig);
    else process.kill(-child.pid, sig);
  } catch {
    // Already gone.
  }
}

function stop(sig: NodeJS.Signals, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  process.exitCode = exitCode;
  for (const child of children) signal(child, sig);
  if (children.every((c) => exited.has(c))) process.exit(exitCode);
  // Whatever does not stop in time is killed, so the ports are free for the next run.
  setTimeout(() => {
    for (const child of children) signal(child, 'SIGKILL');
    process.exit(exitCode);
  }, 5000).unref();
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => stop(sig, 0));
