import { AuthError, InteractionRequiredAuthError, ServerError, type AuthenticationResult } from '@azure/msal-node';
import type { Context } from 'koa';
import { badRequest, HttpError } from '../errors';
import type { SessionUser } from '../session/data';
import { deviceLabel } from '../session/device-label';
import { newSessionId, type Sessions } from '../session/middleware';
import type { Services } from '../services';
import { callbackUrl, loginScopes } from './sign-in-request';
import type { PendingLogins } from './pending-logins';
import { SilentSignIn, SILENT_REFUSALS } from './silent-sign-in';

/**
 * GET /auth/callback: the IdP's redirect. Takes the pending sign-in named by `state` (used up
 * whatever happens), redeems the code with its PKCE verifier and nonce (MSAL stores the tokens
 * in the user's cache entry), records the sign-in for later sign-out, and only then starts a
 * fresh session under a new id (session fixation) and sets its cookie: a failure at any step
 * leaves no usable session. The sign-out cut-off is the store's clock before the redemption, so
 * a sign-out of the user that lands during it ends this sign-in too (tokens and session).
 */
export function callback(services: Services, pendingLogins: PendingLogins, sessions: Sessions) {
  const { config, msal, signOut, stores, log } = services;
  const silentSignIn = new SilentSignIn(config);
  return async function completeLogin(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    if (ctx.querystring.length > 8192) throw badRequest('bad_request', 'The query string is too long.');
    const q = ctx.query;
    const state = typeof q.state === 'string' ? q.state : undefined;
    const pending = pendingLogins.take(ctx, state);

    if (typeof q.error === 'string' && pending?.silent) {
      // A silent sign-in the IdP would not complete without the user (OIDC Core §3.1.2.6): back
      // to where the user was, signed out, no error; the `tried` mark keeps it from trying again.
      const reason = q.error.slice(0, 64).replace(/[^\w.-]/g, '');
      log[SILENT_REFUSALS.has(reason) ? 'info' : 'warn']('auth.silent_signin', { requestId: ctx.state.requestId, outcome: 'refused', reason });
      ctx.redirect(`${config.publicUrl}${pending.returnTo}`);
      return;
    }
    if (typeof q.error === 'string') {
      throw new HttpError(400, 'idp_error', `The identity provider refused the sign-in (${q.error.slice(0, 64).replace(/[^\w.-]/g, '')}).`);
    }
    if (!state) throw badRequest('login_state_missing', 'The sign-in response has no state.');
    if (!pending) throw badRequest('login_state_mismatch', 'This sign-in was not started here, or was already completed. Sign in again.');
    if (Date.now() - pending.createdAt > config.loginTimeoutMs) throw badRequest('login_expired', 'The sign-in took too long. Sign in again.');
    // RFC 9207: an authorization response names its issuer; one from another IdP (a mix-up) is refused.
    if (q.iss !== undefined ? q.iss !== services.idp.issuer : services.idp.issInAuthorizationResponse) {
      throw badRequest('invalid_issuer', 'The sign-in response does not come from this application\'s identity provider.');
    }
    const code = typeof q.code === 'string' ? q.code : undefined;
    if (!code) throw badRequest('bad_request', 'The sign-in response has no code.');

    const signInStartedAt = await stores.now();
    let result: AuthenticationResult;
    try {
      result = await msal({ guard: { signInStartedAt } }).acquireTokenByCode(
        {
          code,
          // A named API's scopes, when the sign-in asked for them (incremental consent).
          scopes: loginScopes(pending.scopes ?? config.api.scopes),
          redirectUri: callbackUrl(config.publicUrl),
          codeVerifier: pending.verifier,
          nonce: pending.nonce,
          state,
          // The claims the authorize request asked for (a claims challenge), asked for again here.
          ...(pending.claims ? { claims: pending.claims } : {}),
        },
        { code, state },
      );
    } catch (err) {
      throw redemptionError(err);
    }
    const signedIn = toSessionUser(result, services.idp.sidFromSessionState ? q.session_state : undefined);
    if (!signedIn) throw new HttpError(400, 'login_failed', 'The identity provider returned no usable account.');
    const { user, sidFromSessionState } = signedIn;

    const sessionId = newSessionId(user.homeAccountId);
    await signOut.recordSignIn(user, sessionId);
    // The IdP ended this very IdP session while the code was being redeemed: its logout call
    // found nobody to sign out yet. Done now, and this sign-in is refused.
    const ended = await signOut.endedMeanwhile(user);
    if (ended) {
      await signOut.signOut(user.homeAccountId, ended, ctx.state.requestId);
      throw new HttpError(401, 'unauthenticated', 'Your session at the identity provider ended while you were signing in. Sign in again.');
    }
    const now = Date.now();
    await sessions.begin(ctx, sessionId, { createdAt: now, lastSeen: now, signInStartedAt, user, device: deviceLabel(ctx.get('user-agent')) });
    if (sidFromSessionState) {
      log.warn('auth.sid_from_session_state', { requestId: ctx.state.requestId, message: "The ID token has no sid claim; using the authorization response's session_state. Add the optional claim 'sid' to the app registration's ID token (Token configuration)." });
    }
    silentSignIn.signedIn(ctx);
    log.info('auth.signin', { requestId: ctx.state.requestId, user: user.homeAccountId, ...(pending.silent ? { silent: true } : {}) });
    ctx.redirect(`${config.publicUrl}${pending.returnTo}`);
  };
}

/** `sessionState`: the authorization response's session_state, where the provider makes it the sid (IdentityProvider.sidFromSessionState). */
function toSessionUser(result: AuthenticationResult, sessionState: unknown): { user: SessionUser; sidFromSessionState: boolean } | undefined {
  const account = result.account;
  const claims = (result.idTokenClaims ?? {}) as Record<string, unknown>;
  if (!account?.homeAccountId || typeof claims.iss !== 'string' || typeof claims.sub !== 'string') return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  const sidFromState = str(claims.sid) ? undefined : str(sessionState)?.slice(0, 256);
  const user: SessionUser = {
    homeAccountId: account.homeAccountId,
    issuer: claims.iss,
    subject: claims.sub,
    sid: str(claims.sid) ?? sidFromState,
    name: str(claims.name) ?? account.name ?? account.username,
    username: str(claims.preferred_username) ?? account.username,
    email: str(claims.email),
    account: { environment: account.environment, tenantId: account.tenantId, localAccountId: account.localAccountId, username: account.username },
    loginHint: str(claims.login_hint),
  };
  return { user, sidFromSessionState: sidFromState !== undefined };
}

function redemptionError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ServerError || err instanceof InteractionRequiredAuthError) {
    // e.g. invalid_grant: a code used twice, expired, or not ours.
    return new HttpError(400, 'login_failed', 'The sign-in could not be completed. Sign in again.', { cause: err });
  }
  if (err instanceof AuthError && /nonce|state/i.test(err.errorCode)) {
    return new HttpError(400, 'login_failed', 'The sign-in response did not match this sign-in. Sign in again.', { cause: err });
  }
  return new HttpError(502, 'upstream_unavailable', 'The identity provider could not be reached.', { cause: err });
}
