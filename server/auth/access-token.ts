import { createHash } from 'node:crypto';
import { AuthError, InteractionRequiredAuthError } from '@azure/msal-node';
import { HttpError } from '../errors';
import type { Logger } from '../log';
import type { SessionUser } from '../session/data';
import type { Store } from '../stores/store';
import { usableCachedAccessToken } from './cached-token';
import type { MsalClientFactory } from './msal-client';
import { startTokenCacheRead, type TokenCacheRead } from './token-cache';
import { TokenCacheKeyError, type TokenSealer } from './token-encryption';

const REAUTH_CODES = new Set(['no_tokens_found', 'refresh_token_expired', 'no_account_found', 'invalid_grant']);

export interface AccessTokenRequest {
  /**
   * The user's tombstone as this request's session check read it (0: none). Parallel calls
   * share one acquisition only within the same value, so a call made after a sign-out never
   * receives tokens read before it; a refresh's write is undone when it changed since
   * (DESIGN, the invariant).
   */
  signedOutAt: number;
  /** The user's token cache entry, already being read alongside the session check. */
  pending?: TokenCacheRead;
  /**
   * A token the API refused with 401 invalid_token: never handed out again. The user's entry is
   * read afresh, and a different valid token there (another call, on any instance, replaced it
   * already) is the answer; otherwise MSAL refreshes (forceRefresh) and its write, guarded like
   * any other, replaces the refused token in the shared entry.
   */
  rejected?: string;
}

export interface TokenCacheAccess {
  tokens: Store<string>;
  sealer: TokenSealer;
  clientId: string;
  /** MSAL's realm for accounts without a tenant (IdentityProvider.authorityTenant). */
  authorityTenant?: string;
  /** ACCESS_TOKEN_MIN_REMAINING_SHARE: how much of a cached token's life must be left to reuse it. */
  minRemainingShare?: number;
}

/**
 * The user's access token for the downstream API, from the server-side cache, refreshed silently
 * when needed. Single-flight per user and scopes within this instance: fifty parallel calls with
 * an expired token cause one refresh (MSAL dedupes only within one client, and ours are per request).
 * The user's cache entry is read once per call (never kept): a plainly valid access token in it
 * is used as is (cached-token.ts); for anything else MSAL decides, from that same read.
 */
export function accessTokens(msal: MsalClientFactory, log: Logger, cache: TokenCacheAccess) {
  const inFlight = new Map<string, Promise<string>>();

  async function acquire(user: SessionUser, scopes: string[], request: AccessTokenRequest): Promise<string> {
    // The read begun with the session check holds the refused token: look again.
    const read = (!request.rejected && request.pending) || startTokenCacheRead(cache.tokens, user.homeAccountId);
    const sealed = await read.sealed;
    let serialized: string | undefined;
    if (sealed) {
      try {
        serialized = cache.sealer.open(sealed, user.homeAccountId);
      } catch (err) {
        throw tokenError(err, user, log);
      }
      const token = usableCachedAccessToken(serialized, {
        homeAccountId: user.homeAccountId,
        ...user.account,
        clientId: cache.clientId,
        authorityTenant: cache.authorityTenant,
        minRemainingShare: cache.minRemainingShare,
        scopes,
      });
      if (token && token !== request.rejected) return token;
    }
    // Refresh only while the entry still holds the refused token: once another call replaced
    // it, MSAL's cache answers (one refresh however many calls the API refused it to).
    const forceRefresh = request.rejected !== undefined && serialized !== undefined && holdsAccessToken(serialized, request.rejected);
    // Anything else is MSAL's to decide, from the same read.
    const client = msal({ homeAccountId: user.homeAccountId, pending: { ...read, sealed: Promise.resolve(sealed) }, guard: { tombstoneSeen: request.signedOutAt } });
    try {
      const result = await client.acquireTokenSilent({
        account: { homeAccountId: user.homeAccountId, ...user.account, name: user.name },
        scopes,
        forceRefresh,
      });
      if (!result.accessToken) throw new HttpError(401, 'reauthenticate', 'Sign in again to continue.');
      return result.accessToken;
    } catch (err) {
      throw tokenError(err, user, log);
    }
  }

  return function accessTokenFor(user: SessionUser, scopes: string[], request: AccessTokenRequest): Promise<string> {
    // A renewal is shared only among calls that the API refused the same token to.
    const renewing = request.rejected ? ` renew:${createHash('sha256').update(request.rejected).digest('base64url')}` : '';
    const key = `${user.homeAccountId} ${request.signedOutAt} ${scopes.join(' ')}${renewing}`;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = acquire(user, scopes, request).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  };
}

export type AccessTokenSource = ReturnType<typeof accessTokens>;

/** Whether a serialized MSAL cache holds `token` as one of its access tokens. */
function holdsAccessToken(serialized: string, token: string): boolean {
  try {
    const cache = JSON.parse(serialized) as { AccessToken?: Record<string, { secret?: unknown }> };
    return Object.values(cache.AccessToken ?? {}).some((at) => at.secret === token);
  } catch {
    return true;
  }
}

function tokenError(err: unknown, user: SessionUser, log: Logger): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof TokenCacheKeyError) {
    // Operator error (TOKEN_CACHE_KEY changed without keeping the old key): say so in the
    // log; the user can only sign in again.
    log.error('token_cache.unreadable', { user: user.homeAccountId, reason: err.message });
    return new HttpError(401, 'reauthenticate', 'Your sign-in can no longer be used. Sign in again.', { cause: err });
  }
  if (err instanceof InteractionRequiredAuthError || (err instanceof AuthError && REAUTH_CODES.has(err.errorCode))) {
    return new HttpError(401, 'reauthenticate', 'Sign in again to continue.', { cause: err });
  }
  return new HttpError(502, 'upstream_unavailable', 'The identity provider could not be reached.', { cause: err });
}
