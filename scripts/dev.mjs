// `npm run dev`: the BFF (tsx watch) and Vite's dev server side by side, one prefixed log.
// The browser uses Vite's origin, which proxies /auth and /api to the BFF, so the BFF's
// PUBLIC_URL is Vite's: sign-in and sign-out redirects come back to http://localhost:5173.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const VITE_ORIGIN = 'http://localhost:5173';
const bffPort = process.env.PORT ?? '3000';
const isWindows = process.platform === 'win32';
const color = process.stdout.isTTY ? { FORCE_COLOR: '1' } : {};

const children = [
  start('bff', ['tsx', 'watch', 'server/main.ts'], { PUBLIC_URL: VITE_ORIGIN, PORT: bffPort }),
  start('vite', ['vite'], { BFF_URL: process.env.BFF_URL ?? `http://localhost:${bffPort}` }),
];
let stopping = false;

function start(name, args, env) {
  const child = spawn('npx', args, {
    env: { ...process.env, ...color, ...env },
    // stdin ignored: a background process group reading the terminal would be stopped (SIGTTIN).
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so one signal reaches npx and everything under it, and a Ctrl-C
    // in the terminal reaches only this script, which forwards it once.
    detached: !isWindows,
    shell: isWindows,
  });
  prefix(child.stdout, process.stdout, name);
  prefix(child.stderr, process.stderr, name);
  child.on('error', (err) => {
    process.stderr.write(`[dev] could not start ${name}: ${err.message}\n`);
    stop('SIGTERM', 1);
  });
  child.on('close', (code, signal) => {
    child.exited = true;
    if (!stopping) {
      process.stderr.write(`[dev] ${name} exited (${signal ?? `code ${code}`}); stopping the other process\n`);
      stop('SIGTERM', code || 1);
    } else if (children.every((c) => c.exited)) {
      process.exit(process.exitCode ?? 0);
    }
  });
  return child;
}

function prefix(from, to, name) {
  const tag = `[${name}]`.padEnd(7);
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => to.write(`${tag}${line}\n`));
}

function signal(child, sig) {
  if (child.exited || child.pid === undefined) return;
  try {
    if (isWindows) child.kill(sig);
    else process.kill(-child.pid, sig);
  } catch {
    // Already gone.
  }
}

function stop(sig, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  process.exitCode = exitCode;
  for (const child of children) signal(child, sig);
  if (children.every((c) => c.exited)) process.exit(exitCode);
  // Whatever does not stop in time is killed, so the ports are free for the next run.
  setTimeout(() => {
    for (const child of children) signal(child, 'SIGKILL');
    process.exit(exitCode);
  }, 5000).unref();
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => stop(sig, 0));
