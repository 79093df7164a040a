import type { Context } from 'koa';
import type { LogoutResponse } from '../../shared/api';
import { SilentSignIn } from '../auth/silent-sign-in';
import { idTokenOf } from '../auth/token-cache';
import { signedInRequest } from '../session/current-user';
import type { SessionUser } from '../session/data';
import { clearSession } from '../session/middleware';
import type { Services } from '../services';
import type { EndSession } from './end-session';

/**
 * POST /auth/logout (session and X-CSRF required): global sign-out started from the SPA. Reads
 * the end-session hint the IdP wants (its ID token, or Entra's login_hint) before the user's
 * tokens go, clears this user's tokens and sessions here, then answers with a same-origin,
 * one-time end-session URL (end-session.ts): the SPA navigates there, and the BFF's redirect
 * carries the hint to the IdP, so the IdP session ends too. No token is in the answer.
 */
export function spaLogout({ config, idp, signOut, stores, sealer }: Services, endSession: EndSession) {
  const silentSignIn = new SilentSignIn(config);
  async function hintFor(user: SessionUser): Promise<string | undefined> {
    if (idp.endSessionHint === 'logout_hint') return user.loginHint;
    const sealed = await stores.tokens.get(user.homeAccountId);
    if (!sealed) return undefined;
    try {
      return idTokenOf(sealer.open(sealed, user.homeAccountId), user.homeAccountId);
    } catch {
      return undefined; // an entry that does not open: end the IdP session without a hint
    }
  }

  return async function logoutFromSpa(ctx: Context) {
    const { user } = signedInRequest(ctx);
    const hint = await hintFor(user);
    await signOut.signOut(user.homeAccountId, 'spa', ctx.state.requestId);
    clearSession(ctx);
    // An IdP session that outlives this sign-out (end-session not followed) must not sign the user back in.
    silentSignIn.markEnded(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { endSessionUrl: endSession.ticketUrl(ctx, hint) } satisfies LogoutResponse;
  };
}
