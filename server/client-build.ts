import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** What the SPA's build reads: when any of it is newer than the built index.html, it is stale. */
const SOURCES = ['client', 'shared', 'vite.config.ts'];
const BUILT_INDEX = 'dist/client/index.html';

/**
 * Builds the SPA into dist/client (`vite build`) when it is missing or older than a source file
 * (client/, shared/, vite.config.ts), relative to `root` (default: the working directory).
 * `npm start` and the browser tests call it; a deployment that ships only dist/client (no
 * sources) builds nothing. Throws when the build fails (Vite's output is on the terminal).
 * Returns whether it built.
 */
export function buildClientIfNeeded(root = process.cwd()): boolean {
  const at = (p: string) => path.join(root, p);
  if (!existsSync(at('client'))) return false;
  if (newestMtimeMs(SOURCES.map(at)) <= mtimeMs(at(BUILT_INDEX))) return false;
  process.stdout.write('Building the SPA (vite build)…\n');
  // A production build whoever calls: under Vitest NODE_ENV is `test`, and Vite would then
  // bundle React's development build (five times larger, and StrictMode's double effects).
  execFileSync(process.execPath, [at('node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return true;
}

function mtimeMs(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function newestMtimeMs(paths: string[]): number {
  let newest = 0;
  for (const p of paths) {
    const stat = statSync(p, { throwIfNoEntry: false });
    if (!stat) continue;
    newest = Math.max(newest, stat.isDirectory() ? newestMtimeMs(readdirSync(p).map((name) => path.join(p, name))) : stat.mtimeMs);
  }
  return newest;
}
