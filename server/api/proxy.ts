import type http from 'node:http';
import type { Context } from 'koa';
import { signInPath } from '../auth/sign-in-request';
import { safeReturnTo } from '../auth/return-to';
import { HttpError } from '../errors';
import { ConsentRequiredError, type AccessTokenRequest } from '../auth/access-token';
import { describe } from '../http/problem';
import { signedInRequest } from '../session/current-user';
import { clearSession } from '../session/middleware';
import type { Services } from '../services';
import { requestBody } from './framing';
import { downstreamUrl } from './path';
import { responseHeaders } from './response-headers';
import { apiFor, type ProxiedApi } from './routing';
import { tokenRejection } from './token-rejection';
import { upstreamClient } from './upstream';

// Request headers worth passing on; cookies, the CSRF header, any Authorization, framing and
// hop-by-hop fields never are (framing.ts and upstream.ts say why).
const FORWARD_REQUEST = ['accept', 'accept-language', 'content-type', 'if-none-match', 'if-modified-since'];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Sent once more, with a new token, after the API revoked the first (RFC 9110 §9.2.1: safe). */
const RETRIED_METHODS = new Set(['GET', 'HEAD']);
/** Answers up to this size (declared by Content-Length) are read whole and sent in one write. */
const SMALL_BODY_BYTES = 64 * 1024;

/**
 * /api/* (session and X-CSRF required): calls the downstream API the path names (routing.ts:
 * `/api/<name>/*` a named one, anything else the default) with the user's access token for
 * exactly that API's scopes, from the server-side cache, refreshed silently when needed; streams
 * the answer. Every API goes through this same code: path checks, framing, header allowlists.
 * Method, path and framing are refused before any token work.
 * Scopes the user never granted (the IdP refuses them, ConsentRequiredError): 401 reauthenticate
 * with a `signInUrl` that asks for that API's scopes and comes back to the SPA's route; the
 * session stays (the other APIs still work).
 * A 401 from the API (token-rejection.ts): a claims challenge is 401 reauthenticate with a
 * `signInUrl` that asks the IdP for those claims and comes back to the SPA's route (its
 * X-Return-To header); invalid_token replaces the token in the cache, then GET and HEAD are sent
 * once more; anything else is 502 upstream_rejected_token.
 */
export function apiProxy({ config, accessToken, log }: Services, apis: readonly ProxiedApi[]) {
  const callUpstream = upstreamClient();
  const routes = { byName: new Map(apis.flatMap((a) => (a.name === undefined ? [] : [[a.name, a] as const]))), fallback: apis.find((a) => a.name === undefined)! };
  return async function proxyToApi(ctx: Context) {
    if (!METHODS.has(ctx.method)) throw new HttpError(405, 'method_not_allowed', 'Method not allowed.');
    const api = apiFor(routes, ctx.path);
    const target = downstreamUrl(api.baseUrl, ctx.path, ctx.querystring, api.mount);
    const body = requestBody(ctx.req, config.maxApiBodyBytes);
    const { user, signedOutAt, prefetched } = signedInRequest(ctx);
    // A named API's sign-in asks for its scopes; the default API's scopes every sign-in asks for.
    const signInScopes = api.name === undefined ? undefined : api.scopes;
    const tokenFor = (request: AccessTokenRequest) =>
      accessToken(user, [...api.scopes], request).catch((err: unknown) => {
        if (err instanceof ConsentRequiredError) {
          log.info('api.consent_required', { requestId: ctx.state.requestId, user: user.homeAccountId, api: api.name ?? 'default', reason: describe(err) });
          const signInUrl = signInPath(safeReturnTo(ctx.get('x-return-to')), { scopes: signInScopes });
          throw new HttpError(401, 'reauthenticate', err.message, { signInUrl, cause: err });
        }
        // The user's tokens no longer work (a revoked grant, a refresh token reused, an entry
        // gone): this session cannot call the API again, so it ends now, and /auth/session says so.
        if (err instanceof HttpError && err.code === 'reauthenticate') {
          log.warn('auth.tokens_unusable', { requestId: ctx.state.requestId, user: user.homeAccountId, reason: describe(err) });
          clearSession(ctx);
        }
        throw err;
      });
    let token = await tokenFor({ signedOutAt, pending: prefetched });

    const headers: Record<string, string> = { 'x-request-id': String(ctx.state.requestId) };
    for (const name of FORWARD_REQUEST) {
      const value = ctx.get(name);
      if (value) headers[name] = value;
    }
    const send = (bearer: string) =>
      callUpstream({ target, method: ctx.method, headers: { ...headers, authorization: `Bearer ${bearer}` }, body, source: ctx.req, limit: config.maxApiBodyBytes, timeoutMs: api.timeoutMs });
    let upstream = await send(token);
    // The API answered before it had the browser's whole content: the rest is not read, so
    // the browser's connection closes instead of being drained.
    if (!ctx.req.complete) ctx.set('Connection', 'close');

    for (let retried = false; upstream.statusCode === 401; retried = true) {
      upstream.resume();
      const rejection = tokenRejection(upstream.headersDistinct['www-authenticate']);
      log.info('api.token_rejected', { requestId: ctx.state.requestId, user: user.homeAccountId, api: api.name ?? 'default', reason: rejection.kind, retried });
      if (rejection.kind === 'claims') {
        // A claims challenge: only a sign-in that asks the IdP for these claims can satisfy it.
        const signInUrl = signInPath(safeReturnTo(ctx.get('x-return-to')), { claims: rejection.claims, scopes: signInScopes });
        throw new HttpError(401, 'reauthenticate', 'The API asks you to sign in again to continue.', { signInUrl });
      }
      if (rejection.kind === 'invalid_token' && !retried) {
        // The API revoked this token: replace it in the user's entry now, so no call (on any
        // instance) uses it again. Only a safe method is sent again: its 401 says nothing was
        // done, and it carries no content that would have to be kept to send twice.
        token = await tokenFor({ signedOutAt, rejected: token });
        if (RETRIED_METHODS.has(ctx.method)) {
          upstream = await send(token);
          continue;
        }
      }
      // Any other refusal of a token the IdP gave us is not the browser's session ending, so
      // no 401 (the SPA would take it for "signed out" and loop through sign-in).
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
    ctx.set(responseHeaders(upstream, { method: ctx.method, target, baseUrl: api.baseUrl, mount: api.mount }));
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
