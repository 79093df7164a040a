import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import createSession from 'koa-session';
import type { Config } from '../config';
import { HttpError, StoreUnavailableError } from '../errors';
import type { Tombstones } from '../logout/tombstones';
import { noMetrics, type Metrics } from '../metrics/metrics';
import type { Store } from '../stores/store';
import { userSlotTag } from '../stores/user-slot';
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
 * A session id: 256 bits from a CSPRNG (koa-session's randomUUID has 122), after the user's slot
 * tag when the session is a user's (user-slot.ts), so the record shares the user's Redis slot.
 */
export const newSessionId = (homeAccountId?: string) => `${homeAccountId === undefined ? '' : userSlotTag(homeAccountId)}${randomBytes(32).toString('base64url')}`;

/** The session was ended by a sign-out while this request wrote it. */
const signedOutMeanwhile = () => new HttpError(401, 'unauthenticated', 'You were signed out. Sign in again.');

export interface Sessions {
  /** Loads the request's session (koa-session), enforces its lifetimes, saves it after the route. */
  middleware: Koa.Middleware;
  /**
   * Starts a signed-in session under `id` (see newSessionId): ends the browser's previous
   * session, writes the new one (checked against the user's tombstone, like every session
   * write), and only then sets the cookie. Throws before the cookie is set if any step fails,
   * so no usable session comes out of a failed sign-in.
   */
  begin(ctx: Context, id: string, data: SessionData): Promise<void>;
  /** The id of the session the request's signed cookie names, if any (not checked against the store). */
  currentId(ctx: Context): string | undefined;
}

/**
 * koa-session over the sessions store. The cookie holds only an opaque, signed id; idle and
 * absolute lifetimes are enforced here, on the server, whatever the cookie says. Every write of
 * a signed-in session re-reads the user's tombstone afterwards and removes the record when a
 * sign-out overtook it: a request in flight during a sign-out cannot bring its session back
 * (write-then-check, as for tokens: DESIGN, invariant 3).
 */
export function sessions(app: Koa, config: Config, store: Store<SessionData>, tombstones: Tombstones, metrics: Pick<Metrics, 'sessionStarted' | 'sessionsEnded'> = noMetrics): Sessions {
  const ttlFor = (data: SessionData) => {
    const now = Date.now();
    const idleEnd = (data.lastSeen ?? now) + config.sessionIdleMs;
    const absoluteEnd = (data.createdAt ?? now) + config.sessionAbsoluteMs;
    return Math.max(1000, Math.min(idleEnd, absoluteEnd) - now);
  };
  const cookie = {
    key: config.production ? SECURE_SESSION_COOKIE : SESSION_COOKIE,
    // The cookie lives as long as a session may; the server decides when it really ends.
    maxAge: config.sessionAbsoluteMs,
    httpOnly: true,
    // Lax: the IdP's redirect to /auth/callback is a cross-site top-level navigation.
    sameSite: 'lax' as const,
    secure: config.production,
    signed: true,
    overwrite: true,
  };

  /**
   * `starting`: the write of a sign-in (begin), whose record nobody uses yet. When the check
   * cannot be made, that record is removed; a session already in use is left as it is (the
   * request answers 503): every request checks its session against the tombstone anyway, so a
   * record that outlives a sign-out serves nothing, while removing it would sign out a user who
   * did not sign out, for one failed read (found by the fault-injection suite).
   */
  async function writeChecked(id: string, data: SessionData, starting = false): Promise<void> {
    await store.set(id, data, ttlFor(data));
    const { user, signInStartedAt } = data;
    if (!user) return;
    let signedOutAt: number | undefined;
    let ended: boolean;
    try {
      // The session may also have been ended on its own ("Sign out this device") meanwhile.
      [signedOutAt, ended] = await Promise.all([tombstones.signedOutAt(user.homeAccountId), starting ? false : tombstones.sessionEnded(id)]);
    } catch (err) {
      if (starting) await store.delete(id).catch(() => {});
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    }
    if (ended || signInStartedAt === undefined || (signedOutAt !== undefined && signedOutAt >= signInStartedAt)) {
      await store.delete(id);
      throw signedOutMeanwhile();
    }
  }

  const cookieSession = createSession(
    {
      ...cookie,
      rolling: false,
      renew: false,
      genid: () => newSessionId(),
      store: {
        get: (key: string) => store.get(key),
        set: (key: string, data: SessionData) => writeChecked(key, data),
        destroy: async (key: string) => store.delete(key),
      },
    },
    app,
  );

  return {
    middleware: async function session(ctx: Context, next: Next) {
      await cookieSession(ctx, async () => {
        enforceLifetimes(ctx, config, metrics);
        await next();
      });
    },
    async begin(ctx, id, data) {
      const previous = ctx.cookies.get(cookie.key, { signed: true });
      if (previous) await store.delete(previous);
      if (previous) metrics.sessionsEnded('fixation');
      await writeChecked(id, data, true);
      const { key, ...options } = cookie;
      ctx.cookies.set(key, id, options);
      metrics.sessionStarted();
    },
    currentId: (ctx) => ctx.cookies.get(cookie.key, { signed: true }),
  };
}

function enforceLifetimes(ctx: Context, config: Config, metrics: Pick<Metrics, 'sessionsEnded'>) {
  const session = sessionOf(ctx);
  if (!session) return;
  const now = Date.now();
  if (session.createdAt === undefined) return;
  const idle = now - (session.lastSeen ?? session.createdAt) > config.sessionIdleMs;
  const tooOld = now - session.createdAt > config.sessionAbsoluteMs;
  if (idle || tooOld) {
    metrics.sessionsEnded(tooOld ? 'absolute' : 'idle');
    clearSession(ctx);
    return;
  }
  // Refresh lastSeen at most once a minute (or a tenth of the idle time): most requests then
  // write nothing, and the idle timeout still holds to within that step.
  if (now - (session.lastSeen ?? 0) > Math.min(60_000, config.sessionIdleMs / 10)) session.lastSeen = now;
}
