import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Outbound } from '../http/outbound';

export interface SampleApiOptions {
  port: number;
  host?: string;
  issuer: string;
  jwksUri: string;
  audience: string;
  requiredScope: string;
  outbound: Outbound;
}

export interface SampleApi {
  url: string;
  close(): Promise<void>;
}

const todosByUser = new Map<string, { id: number; title: string; done: boolean }[]>();

function todosFor(sub: string) {
  let todos = todosByUser.get(sub);
  if (!todos) {
    todos = [
      { id: 1, title: 'Read the sign-out invariant', done: true },
      { id: 2, title: 'Sign out from another app', done: false },
    ];
    todosByUser.set(sub, todos);
  }
  return todos;
}

/**
 * The sample downstream API (development only): it trusts nothing but a JWT access token signed
 * by the IdP, for its audience, unexpired, with its scope. Two token shapes carry the scope:
 * RFC 9068 (`typ: at+jwt`, `scope` with full scope strings, the dev IdP) and Entra's (`typ: JWT`,
 * `scp` with the short names of the API's scopes, e.g. `access_as_user`).
 */
export function createSampleApiApp(options: Omit<SampleApiOptions, 'port' | 'host'>): Koa {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri), { [customFetch]: options.outbound.fetchForJose });
  // Entra's `scp` has `<name>` for the scope requested as `<Application ID URI>/<name>`; the
  // audience check has already pinned the API.
  const shortScope = options.requiredScope.slice(options.requiredScope.lastIndexOf('/') + 1);
  const app = new Koa();
  app.use(async (ctx, next) => {
    const header = ctx.get('authorization');
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(header)?.[1];
    const deny = (error: string, message: string) => {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', `Bearer error="invalid_token"`);
      ctx.body = { error, message };
    };
    if (!token) return deny('missing_token', 'A bearer access token is required.');
    let claims: JWTPayload;
    let typ: string | undefined;
    try {
      ({ payload: claims, protectedHeader: { typ } } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ['RS256', 'PS256', 'ES256'],
      }));
    } catch (err) {
      const expired = err instanceof joseErrors.JWTExpired;
      return deny(expired ? 'token_expired' : 'invalid_token', expired ? 'The access token has expired.' : 'The access token is not valid.');
    }
    const shape = tokenShape(typ, claims);
    if (!shape) return deny('invalid_token', 'The access token is not valid.');
    if (!shape.scopes.includes(shape.entra ? shortScope : options.requiredScope)) {
      ctx.status = 403;
      ctx.body = { error: 'insufficient_scope', message: `Requires the scope ${options.requiredScope}.` };
      return;
    }
    ctx.state.claims = claims;
    await next();
  });
  app.use(async (ctx) => {
    const claims = ctx.state.claims as JWTPayload & Record<string, unknown>;
    if (ctx.method !== 'GET') {
      ctx.status = 405;
      ctx.body = { error: 'method_not_allowed' };
    } else if (ctx.path === '/me') {
      const { sub, name, preferred_username, oid, tid, scope, scp, aud, iss } = claims;
      ctx.body = { sub, name, preferred_username, oid, tid, scope, scp, aud, iss };
    } else if (ctx.path === '/todos') {
      ctx.body = { todos: todosFor(String(claims.sub)) };
    } else {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
    }
  });
  return app;
}

/**
 * The scopes an access token grants, by its shape: `typ: at+jwt` with `scope` (RFC 9068), or
 * `typ: JWT` with `scp` (Entra). Any other `typ` (none, `logout+jwt`) is no access token. An
 * Entra ID token is also `typ: JWT`: its audience (the client id) and its lack of `scp` stop it.
 */
function tokenShape(typ: string | undefined, claims: JWTPayload): { scopes: string[]; entra: boolean } | undefined {
  const words = (v: unknown) => (typeof v === 'string' ? v.split(' ') : []);
  switch (typ?.toLowerCase().replace(/^application\//, '')) {
    case 'at+jwt':
      return { scopes: words(claims.scope), entra: false };
    case 'jwt':
      return { scopes: words(claims.scp), entra: true };
    default:
      return undefined;
  }
}

export async function startSampleApi(options: SampleApiOptions): Promise<SampleApi> {
  const server = http.createServer(createSampleApiApp(options).callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? 'localhost', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
