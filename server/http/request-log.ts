import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../log';

/** One line per request: request id, method, route (never the query: it may hold a code), outcome. */
export function requestLog(log: Logger, enabled: boolean) {
  return async function logRequest(ctx: Context, next: Next) {
    const requestId = randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      if (enabled) {
        log.info('request', {
          requestId,
          method: ctx.method,
          route: ctx.path,
          status: ctx.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        });
      }
    }
  };
}
