import { AuthError, InteractionRequiredAuthError, type AccountInfo } from '@azure/msal-node';
import { HttpError } from '../errors';
import type { Logger } from '../log';
import type { SessionUser } from '../session/data';
import type { MsalClientFactory } from './msal-client';
import { TokenCacheKeyError } from './token-encryption';

const REAUTH_CODES = new Set(['no_tokens_found', 'refresh_token_expired', 'no_account_found', 'invalid_grant']);

/**
 * The user's access token for the downstream API, from the server-side cache, refreshed silently
 * when needed. Single-flight per user and scopes within this instance: fifty parallel calls with
 * an expired token cause one refresh (MSAL dedupes only within one client, and ours are per request).
 */
export function accessTokens(msal: MsalClientFactory, log: Logger) {
  const inFlight = new Map<string, Promise<string>>();

  async function acquire(user: SessionUser, scopes: string[]): Promise<string> {
    const client = msal(user.homeAccountId);
    let account: AccountInfo | null;
    try {
      account = await client.getTokenCache().getAccountByHomeId(user.homeAccountId);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof TokenCacheKeyError) {
        // Operator error (TOKEN_CACHE_KEY changed without keeping the old key): say so in the
        // log; the user can only sign in again.
        log.error('token_cache.unreadable', { user: user.homeAccountId, reason: err.message });
        throw new HttpError(401, 'reauthenticate', 'Your sign-in can no longer be used. Sign in again.', { cause: err });
      }
      throw new HttpError(502, 'upstream_unavailable', 'The token cache could not be read.', { cause: err });
    }
    if (!account) throw new HttpError(401, 'reauthenticate', 'Your sign-in has ended. Sign in again.');
    try {
      const result = await client.acquireTokenSilent({ account, scopes });
      if (!result.accessToken) throw new HttpError(401, 'reauthenticate', 'Sign in again to continue.');
      return result.accessToken;
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof InteractionRequiredAuthError || (err instanceof AuthError && REAUTH_CODES.has(err.errorCode))) {
        throw new HttpError(401, 'reauthenticate', 'Sign in again to continue.', { cause: err });
      }
      throw new HttpError(502, 'upstream_unavailable', 'The identity provider could not be reached.', { cause: err });
    }
  }

  return function accessTokenFor(user: SessionUser, scopes: string[]): Promise<string> {
    const key = `${user.homeAccountId} ${scopes.join(' ')}`;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = acquire(user, scopes).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  };
}

export type AccessTokenSource = ReturnType<typeof accessTokens>;
