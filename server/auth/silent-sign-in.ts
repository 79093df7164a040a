import type { Context, Middleware } from 'koa';
import type { Config } from '../config';
import { HttpError } from '../errors';
import { SECURE_SESSION_COOKIE, SESSION_COOKIE, sessionOf } from '../session/middleware';

/**
 * Silent sign-in (OIDC Core §3.1.2.1, `prompt=none`): when the SPA loads signed out it may send
 * the browser once through /auth/login?prompt=none; a user still signed in at the IdP comes back
 * signed in, anyone else comes back signed out with no error (§3.1.2.6: login_required and its
 * kin). As Duende BFF's and express-openid-connect's `attemptSilentLogin`.
 *
 * It never loops and never undoes a sign-out or a timeout. One cookie per browser (HttpOnly,
 * Path=/, SameSite=Lax; `__Secure-` and Secure in production) says why not to try:
 * - `tried`: a silent attempt started here within SILENT_ATTEMPT_MS; set by /auth/login?prompt=none;
 * - `ended`: a session of this browser ended (a sign-out here, or a session cookie that no longer
 *   leads to a session: front- or back-channel logout, sign-out elsewhere, idle or absolute
 *   timeout). An ended session stays ended until the user signs in with a click: an IdP session
 *   that outlived our sign-out (its end-session URL not followed) must not sign the user back in.
 * - `signed-in`: this browser signed in here; set by every sign-in, it outlives the session cookie.
 * So only a browser that never signed in here (or cleared its cookies) tries. The SPA keeps its own
 * once-per-tab flag too (silentSignIn.ts).
 */
export class SilentSignIn {
  constructor(private readonly config: Pick<Config, 'silentSignIn' | 'production'>) {}

  private get cookieName() {
    return this.config.production ? '__Secure-bff.silent' : 'bff.silent';
  }

  private cookieOptions(maxAge: number) {
    // Path=/: routes match /AUTH/login as well as /auth/login, and a browser sends a Path=/auth/
    // cookie to the second only (outside review of issue 16, F2).
    return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: this.config.production, signed: false, overwrite: true, ...(maxAge > 0 ? { maxAge } : {}) };
  }

  /** Whether this browser carries a session cookie (alive or not): only a browser with none may try. */
  private hasSessionCookie(ctx: Context): boolean {
    return ctx.cookies.get(this.config.production ? SECURE_SESSION_COOKIE : SESSION_COOKIE, { signed: false }) !== undefined;
  }

  /**
   * For GET /auth/session's signed-out answer: whether the SPA may try a silent sign-in now.
   * A request that still carries a session cookie is one whose session ended: it is marked `ended`.
   */
  suggest(ctx: Context): boolean {
    if (this.hasSessionCookie(ctx)) {
      this.markEnded(ctx);
      return false;
    }
    return this.config.silentSignIn && ctx.cookies.get(this.cookieName, { signed: false }) === undefined;
  }

  /**
   * For /auth/login?prompt=none: whether to go to the IdP at all. True marks the attempt (`tried`);
   * false means: go straight back to returnTo, signed out (switched off, tried, ended, or a session cookie).
   */
  begin(ctx: Context): boolean {
    if (!this.config.silentSignIn || this.hasSessionCookie(ctx) || ctx.cookies.get(this.cookieName, { signed: false }) !== undefined) return false;
    ctx.cookies.set(this.cookieName, 'tried', this.cookieOptions(SILENT_ATTEMPT_MS));
    return true;
  }

  /**
   * Wraps the session middleware: a request that came with a session cookie and leaves without a
   * signed-in session (a sign-out, a tombstone, a timeout, a session not found) marks the browser
   * `ended`, whichever route saw it first (an API call's 401 clears the cookie too). A store
   * outage (5xx) marks nothing.
   */
  watch(session: Middleware): Middleware {
    return async (ctx, next) => {
      const had = this.hasSessionCookie(ctx);
      let outage = false;
      try {
        await session(ctx, next);
      } catch (err) {
        outage = !(err instanceof HttpError && err.status < 500);
        throw err;
      } finally {
        if (had && !outage && !sessionOf(ctx)?.user) this.markEnded(ctx);
      }
    };
  }

  /** After a sign-out in this browser: no silent sign-in until the next sign-in with a click. */
  markEnded(ctx: Context): void {
    ctx.cookies.set(this.cookieName, 'ended', this.cookieOptions(ENDED_MARK_MS));
  }

  /**
   * After a successful sign-in: `signed-in`, kept as long as `ended`. The session cookie expires in
   * the browser when the session's absolute lifetime does, and then nothing else would tell this
   * browser from a new one: a silent sign-in would undo the absolute timeout at every expiry
   * (outside review of issue 16, F1). Like `ended`, it keeps silent sign-in off.
   */
  signedIn(ctx: Context): void {
    ctx.cookies.set(this.cookieName, 'signed-in', this.cookieOptions(ENDED_MARK_MS));
  }

  /**
   * For a signed-in request: sets `signed-in` when the browser has no mark, as for a session begun
   * before the mark existed, or a browser that lost only this cookie (outside review of issue 16).
   */
  keepSignedInMark(ctx: Context): void {
    if (ctx.cookies.get(this.cookieName, { signed: false }) === undefined) this.signedIn(ctx);
  }
}

/** The IdP's answers to `prompt=none` that mean "not without the user" (OIDC Core §3.1.2.6). */
export const SILENT_REFUSALS: ReadonlySet<string> = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']);

/** How long a silent attempt keeps this browser from another: one round trip, with room to spare. */
export const SILENT_ATTEMPT_MS = 5 * 60_000;
/** How long a sign-out keeps silent sign-in off (unless a sign-in clears it first): the most browsers keep a cookie (RFC 6265bis §5.6.2). */
export const ENDED_MARK_MS = 400 * 86_400_000;
