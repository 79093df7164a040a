import { execSync } from 'node:child_process';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ANOTHER_APP_ORIGIN } from '../../support/another-app';

const DIST = 'dist/another-app';
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Builds "another app" (client/another-app) into dist/another-app when missing or stale. */
export function buildAnotherAppIfNeeded() {
  const builtAt = mtime(path.join(DIST, 'index.html'));
  const sources = Math.max(newest('client/another-app'), mtime('node_modules/@azure/msal-browser/package.json'));
  if (sources > builtAt) {
    // NODE_ENV is `test` under Vitest; the build must be a production one all the same.
    execSync('npx vite build --config client/another-app/vite.config.ts --logLevel warn', { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } });
  }
}

export interface AnotherAppServer {
  url: string;
  /** The IdP the page signs in with: each test's stack has its own port. */
  setAuthority(issuer: string): void;
  close(): Promise<void>;
}

/**
 * Serves the built "another app" on its registered origin (http://localhost:5174), never on
 * the BFF's, with the /config.json that tells the page which IdP to use.
 */
export async function startAnotherAppServer(): Promise<AnotherAppServer> {
  let authority = '';
  const base = path.resolve(DIST);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', ANOTHER_APP_ORIGIN);
    if (url.pathname === '/config.json') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ authority }));
      return;
    }
    const file = path.resolve(base, `.${decodeURIComponent(url.pathname)}`);
    const target = file.startsWith(base + path.sep) && isFile(file) ? file : path.join(base, 'index.html');
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(target)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
    createReadStream(target).pipe(res);
  });
  const { port } = new URL(ANOTHER_APP_ORIGIN);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${port} is taken (is \`npm run dev\` running?): another app must be served on ${ANOTHER_APP_ORIGIN}, its registered origin`) : err),
    );
    server.listen(Number(port), 'localhost', () => resolve());
  });
  return {
    url: `${ANOTHER_APP_ORIGIN}/`,
    setAuthority: (issuer) => {
      authority = issuer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((max, entry) => {
    const full = path.join(dir, entry.name);
    return Math.max(max, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }, 0);
}
