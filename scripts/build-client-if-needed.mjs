// `npm start` builds the SPA only when dist/client is missing or older than a source file.
import { execSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const built = (() => {
  try {
    return statSync('dist/client/index.html').mtimeMs;
  } catch {
    return 0;
  }
})();
const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, entry) => {
    const full = path.join(dir, entry.name);
    return Math.max(max, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }, 0);
const sources = Math.max(newest('client'), newest('shared'), statSync('vite.config.ts').mtimeMs);
if (sources > built) {
  console.log('Building the SPA (vite build)…');
  // A production build whoever calls: under Vitest NODE_ENV is `test`, and Vite would then
  // bundle React's development build (five times larger, and StrictMode's double effects).
  execSync('npx vite build --logLevel warn', { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
}
