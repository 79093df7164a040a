import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import createSession from 'koa-session';
import type { Config } from '../config';
import type { Store } from '../stores/store';
import type { SessionData } from './data';

export const SESSION_COOKIE = 'bff.sid';
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

/** ctx.session, typed: koa-session adds it without types. */
export type Session = SessionData & { regenerate(): Promise<void>; save(): Promise<void> };
export const sessionOf = (ctx: Context) => (ctx as unknown as { session: Session | null }).session;
export const clearSession = (ctx: Context) => {
  (ctx as unknown as { session: null }).session = null;
};

/**
 * koa-session over the sessions store. The cookie holds only an opaque, signed id of 256 random
 * bits (koa-session's randomUUID has 122); idle and absolute lifetimes are enforced here, on the
 * server, whatever the cookie says.
 */
export function sessions(app: Koa, config: Config, store: Store<SessionData>) {
  const ttlFor = (data: SessionData) => {
    const now = Date.now();
    const idleEnd = (data.lastSeen ?? now) + config.sessionIdleMs;
    const absoluteEnd = (data.createdAt ?? now) + config.sessionAbsoluteMs;
    return Math.max(1000, Math.min(idleEnd, absoluteEnd) - now);
  };
  const cookieSession = createSession(
    {
      key: config.production ? SECURE_SESSION_COOKIE : SESSION_COOKIE,
      // The cookie lives as long as a session may; the server decides when it really ends.
      maxAge: config.sessionAbsoluteMs,
      httpOnly: true,
      // Lax: the IdP's redirect to /auth/callback is a cross-site top-level navigation.
      sameSite: 'lax',
      secure: config.production,
      signed: true,
      rolling: false,
      renew: false,
      genid: (ctx: Context) => {
        const id = randomBytes(32).toString('base64url');
        ctx.state.sessionId = id;
        return id;
      },
      store: {
        get: (key: string) => store.get(key),
        set: async (key: string, data: SessionData, _maxAge: number, { ctx }: { ctx?: Context }) => {
          if (ctx) ctx.state.sessionId = key;
          await store.set(key, data, ttlFor(data));
        },
        destroy: async (key: string) => store.delete(key),
      },
    },
    app,
  );
  return async function session(ctx: Context, next: Next) {
    await cookieSession(ctx, async () => {
      enforceLifetimes(ctx, config);
      await next();
    });
  };
}

/** Marks the start of a session's life; an empty session is never written. */
export function beginSession(session: Session, now = Date.now()) {
  session.createdAt = now;
  session.lastSeen = now;
}

function enforceLifetimes(ctx: Context, config: Config) {
  const session = sessionOf(ctx);
  if (!session) return;
  const now = Date.now();
  if (session.createdAt === undefined) return;
  const idle = now - (session.lastSeen ?? session.createdAt) > config.sessionIdleMs;
  const tooOld = now - session.createdAt > config.sessionAbsoluteMs;
  if (idle || tooOld) {
    clearSession(ctx);
    return;
  }
  // Refresh lastSeen at most once a minute (or a tenth of the idle time): most requests then
  // write nothing, and the idle timeout still holds to within that step.
  if (now - (session.lastSeen ?? 0) > Math.min(60_000, config.sessionIdleMs / 10)) session.lastSeen = now;
}
