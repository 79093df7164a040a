import type { Context } from 'koa';
import type { Stores } from '../stores';

/** GET /healthz: the process is up (liveness). */
export function healthz(ctx: Context) {
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { status: 'ok' };
}

/** GET /readyz: the stores answer (readiness); otherwise 503 store_unavailable, from the store call. */
export function readyz(stores: Stores) {
  return async function checkReady(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    await stores.ping();
    ctx.body = { status: 'ready' };
  };
}
