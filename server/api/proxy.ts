import type http from 'node:http';
import type { Context } from 'koa';
import { HttpError } from '../errors';
import { signedInRequest } from '../session/current-user';
import type { Services } from '../services';
import { requestBody } from './framing';
import { downstreamUrl } from './path';
import { responseHeaders } from './response-headers';
import { upstreamClient } from './upstream';

// Request headers worth passing on; cookies, the CSRF header, any Authorization, framing and
// hop-by-hop fields never are (framing.ts and upstream.ts say why).
const FORWARD_REQUEST = ['accept', 'accept-language', 'content-type', 'if-none-match', 'if-modified-since'];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Answers up to this size (declared by Content-Length) are read whole and sent in one write. */
const SMALL_BODY_BYTES = 64 * 1024;

/**
 * /api/* (session and X-CSRF required): calls the configured downstream API with the user's
 * access token from the server-side cache, refreshed silently when needed; streams the answer.
 * Method, path and framing are refused before any token work.
 */
export function apiProxy({ config, accessToken }: Services, baseUrl: string) {
  const callUpstream = upstreamClient();
  return async function proxyToApi(ctx: Context) {
    if (!METHODS.has(ctx.method)) throw new HttpError(405, 'method_not_allowed', 'Method not allowed.');
    const target = downstreamUrl(baseUrl, ctx.path, ctx.querystring);
    const body = requestBody(ctx.req, config.maxApiBodyBytes);
    const { user, signedOutAt, prefetched } = signedInRequest(ctx);
    const token = await accessToken(user, config.api.scopes, { signedOutAt, pending: prefetched });

    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-request-id': String(ctx.state.requestId) };
    for (const name of FORWARD_REQUEST) {
      const value = ctx.get(name);
      if (value) headers[name] = value;
    }
    const upstream = await callUpstream({ target, method: ctx.method, headers, body, source: ctx.req, limit: config.maxApiBodyBytes, timeoutMs: config.api.timeoutMs });
    // The API answered before it had the browser's whole content: the rest is not read, so
    // the browser's connection closes instead of being drained.
    if (!ctx.req.complete) ctx.set('Connection', 'close');

    if (upstream.statusCode === 401) {
      // The API refused a token the IdP just gave us: not the browser's session ending, so no 401
      // (the SPA would take it for "signed out" and loop through sign-in).
      upstream.resume();
      throw new HttpError(502, 'upstream_rejected_token', 'The API refused the access token.');
    }
    ctx.status = upstream.statusCode ?? 502;
    // A small answer of known size goes out with its headers in one write; anything else streams.
    const bodiless = ctx.method === 'HEAD' || ctx.status === 204 || ctx.status === 304;
    const declaredLength = Number(upstream.headers['content-length']);
    const small = bodiless || (upstream.headers['content-length'] !== undefined && declaredLength <= SMALL_BODY_BYTES);
    ctx.body = small ? await readWhole(upstream) : upstream;
    // After the body, whose Content-Type and Content-Length Koa sets: the API's representation
    // headers (and on HEAD its length) replace them.
    ctx.set(responseHeaders(upstream, { method: ctx.method, target, baseUrl }));
    ctx.set('Cache-Control', 'no-store');
  };
}

function readWhole(upstream: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    upstream.on('data', (chunk: Buffer) => chunks.push(chunk));
    upstream.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    upstream.on('error', (err) => reject(err instanceof HttpError ? err : new HttpError(502, 'upstream_unavailable', 'The API answer was cut off.', { cause: err })));
    upstream.on('close', () => {
      if (!upstream.complete) reject(new HttpError(502, 'upstream_unavailable', 'The API answer was cut off.'));
    });
  });
}
