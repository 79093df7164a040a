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
 * by the IdP, for its audience, unexpired, with its scope.
 */
export function createSampleApiApp(options: Omit<SampleApiOptions, 'port' | 'host'>): Koa {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri), { [customFetch]: options.outbound.fetchForJose });
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
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'at+jwt',
        algorithms: ['RS256', 'PS256', 'ES256'],
      }));
    } catch (err) {
      const expired = err instanceof joseErrors.JWTExpired;
      return deny(expired ? 'token_expired' : 'invalid_token', expired ? 'The access token has expired.' : 'The access token is not valid.');
    }
    const scopes = String(claims.scope ?? '').split(' ');
    if (!scopes.includes(options.requiredScope)) {
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
      const { sub, name, preferred_username, oid, tid, scope, aud, iss } = claims;
      ctx.body = { sub, name, preferred_username, oid, tid, scope, aud, iss };
    } else if (ctx.path === '/todos') {
      ctx.body = { todos: todosFor(String(claims.sub)) };
    } else {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
    }
  });
  return app;
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
