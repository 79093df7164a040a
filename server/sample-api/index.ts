import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { createRemoteJWKSet, customFetch, decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
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
  /** What tests (never the network) tell it to refuse, and what it was sent. */
  controls: SampleApiControls;
  close(): Promise<void>;
}

/** One request as the API saw it, after the token check. */
export interface SampleApiCall {
  method: string;
  path: string;
  /** The access token's own id: `jti` (RFC 9068, the dev IdP) or `uti` (Entra). */
  tokenId?: string;
  /** The token's `acrs` claim: the Conditional Access authentication contexts it satisfied. */
  acrs?: string[];
  /** The `aud` of the bearer token presented, read before any check (so a refused token shows too). */
  presentedAudience?: string | string[];
  status: number;
  /** The WWW-Authenticate it answered with, if any. */
  challenge?: string;
}

/**
 * The two refusals a real API sends that a BFF must tell apart (tests set them up):
 * - revoked tokens: 401 `error="invalid_token"` (an API that learnt of a revocation, as with
 *   Continuous Access Evaluation);
 * - an authentication context a path requires (Conditional Access): a token whose `acrs` claim
 *   lacks it gets 401 `error="insufficient_claims"` with the claims request that asks for it,
 *   base64-encoded, as Entra-protected APIs send it.
 */
export class SampleApiControls {
  private readonly revoked = new Set<string>();
  private readonly contexts = new Map<string, string>();
  readonly calls: SampleApiCall[] = [];

  /** From now on, the token with this `jti`/`uti` is refused with invalid_token. */
  revokeToken(id: string): void {
    this.revoked.add(id);
  }

  /** Paths under `pathPrefix` require a token whose `acrs` holds `context` (e.g. "c1"). */
  requireAuthContext(pathPrefix: string, context: string): void {
    this.contexts.set(pathPrefix, context);
  }

  reset(): void {
    this.revoked.clear();
    this.contexts.clear();
    this.calls.length = 0;
  }

  isRevoked(tokenId: string | undefined): boolean {
    return tokenId !== undefined && this.revoked.has(tokenId);
  }

  /** The authentication context `path` requires and `acrs` lacks, if any. */
  missingContext(path: string, acrs: readonly string[]): string | undefined {
    for (const [prefix, context] of this.contexts) {
      if ((path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`)) && !acrs.includes(context)) return context;
    }
    return undefined;
  }
}

/** Entra's claims challenge for an authentication context: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`. */
export function authContextClaims(context: string): string {
  return JSON.stringify({ access_token: { acrs: { essential: true, value: context } } });
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
export function createSampleApiApp(options: Omit<SampleApiOptions, 'port' | 'host'>, controls = new SampleApiControls()): Koa {
  const jwks = createRemoteJWKSet(new URL(options.jwksUri), { [customFetch]: options.outbound.fetchForJose });
  // Entra's `scp` has `<name>` for the scope requested as `<Application ID URI>/<name>`; the
  // audience check has already pinned the API.
  const shortScope = options.requiredScope.slice(options.requiredScope.lastIndexOf('/') + 1);
  const app = new Koa();
  app.use(async (ctx, next) => {
    const call: SampleApiCall = { method: ctx.method, path: ctx.path, status: 0 };
    try {
      await next();
    } finally {
      call.status = ctx.status;
      call.challenge = ctx.response.get('WWW-Authenticate') || undefined;
      call.tokenId = ctx.state.tokenId as string | undefined;
      call.acrs = ctx.state.acrs as string[] | undefined;
      call.presentedAudience = ctx.state.presentedAudience as string | string[] | undefined;
      controls.calls.push(call);
    }
  });
  app.use(async (ctx, next) => {
    const header = ctx.get('authorization');
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/.exec(header)?.[1];
    const deny = (error: string, message: string) => {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', `Bearer error="invalid_token"`);
      ctx.body = { error, message };
    };
    if (!token) return deny('missing_token', 'A bearer access token is required.');
    try {
      ctx.state.presentedAudience = decodeJwt(token).aud;
    } catch {
      // Not a JWT at all: jwtVerify below refuses it.
    }
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
    const tokenId = typeof claims.jti === 'string' ? claims.jti : typeof claims.uti === 'string' ? claims.uti : undefined;
    const acrs = Array.isArray(claims.acrs) ? claims.acrs.filter((v): v is string => typeof v === 'string') : [];
    ctx.state.tokenId = tokenId;
    ctx.state.acrs = acrs;
    if (controls.isRevoked(tokenId)) return deny('invalid_token', 'The access token was revoked.');
    if (!shape.scopes.includes(shape.entra ? shortScope : options.requiredScope)) {
      ctx.status = 403;
      ctx.body = { error: 'insufficient_scope', message: `Requires the scope ${options.requiredScope}.` };
      return;
    }
    const context = controls.missingContext(ctx.path, acrs);
    if (context) {
      const challenge = Buffer.from(authContextClaims(context)).toString('base64');
      ctx.status = 401;
      ctx.set('WWW-Authenticate', `Bearer realm="", error="insufficient_claims", claims="${challenge}"`);
      ctx.body = { error: 'insufficient_claims', message: `Requires the authentication context ${context}.` };
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
  const controls = new SampleApiControls();
  const server = http.createServer(createSampleApiApp(options, controls).callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? 'localhost', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    controls,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
