import { parse as parseCookieHeader } from 'cookie';
import type { Context } from 'koa';
import { sessionKeySealer, type TokenSealer } from './token-encryption';

/** A sign-in in progress: its PKCE verifier and nonce never leave the server in the clear. */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  /** When /auth/login issued it (ms, this instance's clock; only its own age is judged). */
  createdAt: number;
  /** The claims request (JSON) the authorize request carried: the code redemption asks for it too. */
  claims?: string;
  /** A named API's scopes the sign-in asked for (incremental consent): the code is redeemed for them. */
  scopes?: string[];
  /** A silent sign-in (prompt=none): an IdP refusal brings the user back to returnTo, signed out, with no error. */
  silent?: true;
}

export interface PendingLoginOptions {
  /** SESSION_KEYS: the first seals, every key opens (rotation). */
  sessionKeys: readonly string[];
  production: boolean;
  /** LOGIN_TIMEOUT_MINUTES in ms: the cookie's lifetime and the longest a sign-in may take. */
  timeoutMs: number;
  /** At most this many sign-ins pending per browser; the newest win. */
  max?: number;
}

/** `state` as /auth/login makes it: 32 random bytes, base64url. Anything else is no sign-in of ours. */
const STATE_FORMAT = /^[A-Za-z0-9_-]{43}$/;
export const MAX_PENDING_LOGINS = 3;
/** What the pending sign-in cookies of one browser may add up to (names and values). */
export const MAX_PENDING_COOKIE_BYTES = 6000;
const COOKIE_PATH = '/auth/';

/**
 * Sign-ins in progress live in the browser, one cookie per sign-in named after its `state`,
 * sealed with AES-256-GCM under a key derived from SESSION_KEYS and bound to that state. So an
 * anonymous /auth/login stores nothing on the server (no free write into memory or Redis), two
 * tabs signing in at once never overwrite each other, and a state that is not ours finds
 * nothing whatever its name (Object.prototype's included): the lookup is by exact cookie name
 * after a format check. Same shape as mod_auth_openidc's state cookies (newest win).
 * Cookies: HttpOnly, SameSite=Lax (the callback is a cross-site top-level navigation),
 * Path=/auth/, Max-Age = the login timeout; `__Secure-` and Secure in production.
 */
export class PendingLogins {
  private readonly sealer: TokenSealer;
  private readonly prefix: string;
  private readonly max: number;

  constructor(private readonly options: PendingLoginOptions) {
    this.sealer = sessionKeySealer(options.sessionKeys, 'bff pending login v1');
    this.prefix = options.production ? '__Secure-bff.login.' : 'bff.login.';
    this.max = options.max ?? MAX_PENDING_LOGINS;
  }

  static isState(value: unknown): value is string {
    return typeof value === 'string' && STATE_FORMAT.test(value);
  }

  /** Stores a new pending sign-in in the browser, keeping only the newest `max` (older ones expire). */
  save(ctx: Context, login: PendingLogin): void {
    const { state, claims, ...rest } = login;
    // The claims go in as JSON, not as a string of JSON: no second escaping to grow the cookie.
    const sealed = JSON.stringify(claims === undefined ? rest : { ...rest, claims: JSON.parse(claims) });
    const name = this.prefix + state;
    const value = this.sealer.seal(sealed, state);
    // Newest first, within `max` and within a byte budget, so that the Cookie header of /auth/*
    // stays under the 8 KB many proxies allow (nginx's default) even with large claims requests.
    const now = Date.now();
    let bytes = name.length + value.length;
    const others = this.pendingNames(ctx)
      .map((other) => ({ name: other, login: this.open(ctx, other), size: other.length + (ctx.cookies.get(other, { signed: false })?.length ?? 0) }))
      .sort((a, b) => (b.login?.createdAt ?? 0) - (a.login?.createdAt ?? 0));
    let kept = 1;
    for (const { name: other, login: pending, size } of others) {
      const stale = !pending || now - pending.createdAt >= this.options.timeoutMs;
      if (stale || kept >= this.max || bytes + size > MAX_PENDING_COOKIE_BYTES) {
        this.clear(ctx, other);
        continue;
      }
      bytes += size;
      kept++;
    }
    ctx.cookies.set(name, value, this.cookieOptions(this.options.timeoutMs));
  }

  /**
   * The pending sign-in for `state`, used up: its cookie is cleared whatever the outcome.
   * Undefined for a state not made here, already used, expired, tampered or sealed for another state.
   */
  take(ctx: Context, state: unknown): PendingLogin | undefined {
    if (!PendingLogins.isState(state)) return undefined;
    const name = this.prefix + state;
    if (ctx.cookies.get(name, { signed: false }) === undefined) return undefined;
    const login = this.open(ctx, name);
    this.clear(ctx, name);
    return login;
  }

  private open(ctx: Context, name: string): PendingLogin | undefined {
    const state = name.slice(this.prefix.length);
    const sealed = ctx.cookies.get(name, { signed: false });
    if (!sealed || !PendingLogins.isState(state)) return undefined;
    try {
      const value = JSON.parse(this.sealer.open(sealed, state)) as Record<string, unknown>;
      const { nonce, verifier, returnTo, createdAt, claims, scopes, silent } = value;
      if (typeof nonce !== 'string' || typeof verifier !== 'string' || typeof returnTo !== 'string' || typeof createdAt !== 'number') return undefined;
      if (claims !== undefined && (typeof claims !== 'object' || claims === null || Array.isArray(claims))) return undefined;
      if (scopes !== undefined && !(Array.isArray(scopes) && scopes.every((s) => typeof s === 'string'))) return undefined;
      return {
        state, nonce, verifier, returnTo, createdAt,
        ...(claims === undefined ? {} : { claims: JSON.stringify(claims) }),
        ...(scopes === undefined ? {} : { scopes: scopes as string[] }),
        ...(silent === true ? { silent: true as const } : {}),
      };
    } catch {
      return undefined;
    }
  }

  /** Names of this browser's pending-login cookies (the Cookie header, parsed by `cookie`). */
  private pendingNames(ctx: Context): string[] {
    const header = ctx.get('cookie');
    if (!header) return [];
    return Object.keys(parseCookieHeader(header)).filter((name) => name.startsWith(this.prefix) && STATE_FORMAT.test(name.slice(this.prefix.length)));
  }

  private clear(ctx: Context, name: string) {
    ctx.cookies.set(name, null, this.cookieOptions(0));
  }

  private cookieOptions(maxAge: number) {
    return {
      path: COOKIE_PATH,
      httpOnly: true,
      sameSite: 'lax' as const,
      secure: this.options.production,
      signed: false,
      overwrite: true,
      ...(maxAge > 0 ? { maxAge } : {}),
    };
  }
}
