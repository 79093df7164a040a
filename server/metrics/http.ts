import type { Context, Next } from 'koa';
import { apiFor, type ProxiedApi } from '../api/routing';
import type { Metrics } from './metrics';

/**
 * The route a request is counted under: the router's pattern (`/auth/callback`), an API's mount
 * with `/*` (`/api/*`, `/api/todo/*`), `static` for a GET or HEAD no route took (the SPA's files,
 * and 404s), `other` for anything else. Never the raw path: it may carry ids, and every label
 * value is kept for good.
 */
export function routeLabeller(apis: readonly ProxiedApi[]): (ctx: Context) => string {
  const byName = new Map(apis.filter((a) => a.name !== undefined).map((a) => [a.name!, a]));
  const fallback = apis.find((a) => a.name === undefined) ?? { mount: '/api', baseUrl: '', scopes: [], timeoutMs: 0 };
  return (ctx) => {
    const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
    if (typeof matched === 'string') return matched;
    if (matched instanceof RegExp && ctx.path.startsWith('/api')) return `${apiFor({ byName, fallback }, ctx.url.split('?')[0]!).mount}/*`;
    return ctx.method === 'GET' || ctx.method === 'HEAD' ? 'static' : 'other';
  };
}

/** Observes each request's duration by route and final status class; outside problemResponses, so an error counts with the status it was answered with. */
export function requestMetrics(metrics: Metrics, routeOf: (ctx: Context) => string) {
  return async function measureRequest(ctx: Context, next: Next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      metrics.requestFinished(routeOf(ctx), ctx.status, (performance.now() - started) / 1000);
    }
  };
}
