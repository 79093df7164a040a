import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Context, Next } from 'koa';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves the built SPA: hashed assets for a year, index.html for every other GET navigation
 * (client-side routes). Touches no session and no store.
 */
export function spaFiles(root: string) {
  const base = path.resolve(root);
  return async function serveSpa(ctx: Context, next: Next) {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path.startsWith('/api/') || ctx.path.startsWith('/auth/')) return next();
    let relative: string;
    try {
      relative = decodeURIComponent(ctx.path);
    } catch {
      return next();
    }
    const file = path.resolve(base, `.${relative}`);
    if (file.startsWith(base + path.sep) && !relative.includes('\0')) {
      const info = await stat(file).catch(() => undefined);
      if (info?.isFile()) return send(ctx, file, info.size, relative.startsWith('/assets/'));
    }
    if (path.extname(relative)) return next();
    const index = path.join(base, 'index.html');
    const info = await stat(index).catch(() => undefined);
    if (!info) {
      ctx.status = 503;
      ctx.type = 'text/plain';
      ctx.body = 'The SPA is not built yet: run `npm run build`.';
      return;
    }
    return send(ctx, index, info.size, false);
  };
}

function send(ctx: Context, file: string, size: number, immutable: boolean) {
  ctx.type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  ctx.length = size;
  ctx.set('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  ctx.body = ctx.method === 'HEAD' ? null : createReadStream(file);
}
