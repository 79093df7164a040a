import type { Context, Next } from 'koa';
import { badRequest, HttpError } from '../errors';
import { readForm } from '../http/body';
import type { Services } from '../services';
import { LOGOUT_TOKEN_MAX_AGE_S, LogoutTokenRefusal, type LogoutToken } from './logout-token';

const MAX_BODY_BYTES = 16 * 1024;

/**
 * POST /auth/backchannel-logout (OIDC Back-Channel Logout 1.0): the IdP, server to server.
 * Validate the logout_token fully, drop a replayed jti, then sign the user out by sid (or by
 * sub when the token has no sid). A store failure is a 503, so the IdP retries.
 */
export function backchannelLogout({ idp, signOut, stores, log, metrics }: Services, verify: (token: string) => Promise<LogoutToken>) {
  /** The logout token, validated; a refusal is logged with its reason (never the token), so an operator can see why a provider's logout did nothing. */
  async function validToken(ctx: Context): Promise<LogoutToken> {
    try {
      const form = await readForm(ctx, MAX_BODY_BYTES);
      const tokens = form.getAll('logout_token');
      if (tokens.length !== 1 || !tokens[0]) throw badRequest('bad_request', 'Exactly one logout_token is required.');
      return await verify(tokens[0]);
    } catch (err) {
      if (err instanceof HttpError && err.status < 500) log.warn('backchannel.refused', { requestId: ctx.state.requestId, status: err.status, code: err.code, reason: err.message });
      if (err instanceof HttpError && err.status < 500) metrics.logoutTokenRefused(err instanceof LogoutTokenRefusal ? err.reason : err.code);
      throw err;
    }
  }

  /**
   * By sid when the token names one we recorded, else by sub (§2.7: sub alone ends all of the
   * subject's sessions). A sid we never recorded with a known sub ends the user's sessions only
   * if some were recorded without a sid (their ID token had none): those are the sessions such a
   * token can mean; sessions known by another sid are left alone.
   */
  async function userOf(token: LogoutToken): Promise<string | undefined> {
    const bySid = token.sid ? await signOut.userBySid(idp.issuer, token.sid) : undefined;
    if (bySid || !token.sub) return bySid;
    const bySub = await signOut.userBySub(idp.issuer, token.sub);
    if (!bySub || !token.sid) return bySub;
    return (await signOut.hasSessionWithoutSid(bySub)) ? bySub : undefined;
  }

  return async function logoutFromBackchannel(ctx: Context) {
    const token = await validToken(ctx);

    const replayKey = `jti:${idp.issuer} ${token.jti}`;
    if ((await stores.logout.get(replayKey)) !== undefined) {
      ctx.status = 200;
      return;
    }
    let user = await userOf(token);
    if (!user && token.sid) {
      // Not recorded (yet): remembered, then looked up again, for a sign-in whose callback is
      // still under way with this sid (sign-out.ts, idpSessionEnded).
      await signOut.idpSessionEnded(idp.issuer, token.sid, 'backchannel');
      user = await userOf(token);
    }
    if (user) await signOut.signOut(user, 'backchannel', ctx.state.requestId);
    // Signed out here already (from the SPA): the IdP now confirms its own end of session, which
    // a held refresh-token revocation waits for. In the background: never delays this answer.
    else void signOut.idpEndedSession(idp.issuer, token, 'backchannel', ctx.state.requestId);
    // Remembered only after the sign-out has happened: a failed attempt may be retried.
    await stores.logout.set(replayKey, 1, (LOGOUT_TOKEN_MAX_AGE_S + 60) * 1000);
    ctx.status = 200;
  };
}

/** Back-Channel Logout 1.0 §2.8: every answer, success or error, is uncacheable. */
export async function noCache(ctx: Context, next: Next) {
  ctx.set('Cache-Control', 'no-cache, no-store');
  ctx.set('Pragma', 'no-cache');
  await next();
}

export function methodNotAllowed(allow: string) {
  return (ctx: Context) => {
    ctx.set('Allow', allow);
    throw new HttpError(405, 'method_not_allowed', `Use ${allow}.`);
  };
}
