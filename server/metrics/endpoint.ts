import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'koa';
import type { Problem } from '../../shared/api';
import { HttpError } from '../errors';
import type { Metrics } from './metrics';

export const METRICS_PATH = '/metrics';

/**
 * Whether an Authorization header carries `Bearer <token>` (RFC 6750 §2.1; the scheme is
 * case-insensitive). Both sides are hashed first, so the comparison takes the same time
 * whatever the length or the first differing byte of what was sent.
 */
export function bearerTokenMatches(authorization: string | undefined, token: string): boolean {
  const sent = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? '')?.[1] ?? '';
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(sent), digest(token));
}

const refused = () => new HttpError(401, 'unauthenticated', 'The metrics need a bearer token (METRICS_TOKEN).', { headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' } });

/**
 * GET /metrics on the main port (METRICS_TOKEN without METRICS_PORT): the Prometheus text
 * format for a scraper that sends `Authorization: Bearer <METRICS_TOKEN>`; 401 (a JSON problem)
 * for anyone else.
 */
export function metricsRoute(metrics: Metrics, token: string) {
  return async function scrape(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    if (!bearerTokenMatches(ctx.get('Authorization') || undefined, token)) throw refused();
    const { contentType, body } = await metrics.exposition();
    ctx.type = contentType;
    ctx.body = body;
  };
}

export interface MetricsServer {
  /** http://<host>:<port> */
  url: string;
  close(): Promise<void>;
}

/**
 * A listener of its own for GET /metrics (METRICS_PORT, on METRICS_HOST): nothing of the BFF
 * is reachable through it, and it is not on the public port at all. With `token`, a scraper
 * must send it as a bearer token here too. Every other path is a 404 problem.
 */
export async function startMetricsServer(metrics: Metrics, options: { host: string; port: number; token?: string }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const problem = (status: number, body: Problem, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) return problem(404, { error: 'not_found', message: 'Not found.' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return problem(405, { error: 'method_not_allowed', message: 'Use GET.' }, { Allow: 'GET, HEAD' });
    if (options.token !== undefined && !bearerTokenMatches(req.headers.authorization, options.token)) {
      const err = refused();
      return problem(err.status, { error: err.code, message: err.message }, err.headers);
    }
    metrics.exposition().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => problem(500, { error: 'internal_error', message: 'Something went wrong.' }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
