import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { LogoutResponse } from '../../shared/api';
import { signedInRequest } from '../session/current-user';
import { clearSession } from '../session/middleware';
import type { Services } from '../services';

/**
 * POST /auth/logout (session and X-CSRF required): global sign-out started from the SPA. Clears
 * this user's tokens and sessions here, then answers with the IdP's end-session URL, where the
 * SPA navigates to end the IdP session too.
 */
export function spaLogout({ config, idp, signOut }: Services) {
  return async function logoutFromSpa(ctx: Context) {
    const { user } = signedInRequest(ctx);
    await signOut.signOut(user.homeAccountId, 'spa', ctx.state.requestId);
    clearSession(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { endSessionUrl: endSessionUrl(config.postLogoutRedirectUri, idp, user.loginHint) } satisfies LogoutResponse;
  };
}

function endSessionUrl(
  postLogoutRedirectUri: string,
  idp: Services['idp'],
  loginHint: string | undefined,
): string {
  if (!idp.endSessionEndpoint) return postLogoutRedirectUri;
  const url = new URL(idp.endSessionEndpoint);
  url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri);
  url.searchParams.set('state', randomBytes(16).toString('base64url'));
  url.searchParams.set('client_id', idp.clientId);
  // No id_token_hint: this URL reaches the browser, and the browser never holds a token.
  // client_id lets the IdP check post_logout_redirect_uri; Entra skips its picker with logout_hint.
  if (loginHint) url.searchParams.set('logout_hint', loginHint);
  return url.toString();
}
