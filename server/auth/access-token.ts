import { createHash } from 'node:crypto';
import { AuthError, InteractionRequiredAuthError } from '@azure/msal-node';
import { HttpError } from '../errors';
import type { Logger } from '../log';
import type { Metrics, RefreshOutcome } from '../metrics/metrics';
import type { SessionUser } from '../session/data';
import type { Stores } from '../stores';
import { userKey } from '../stores/user-slot';
import type { Store } from '../stores/store';
import { usableAccessToken } from './cached-token';
import type { OpenedEntries, OpenedEntry } from './opened-entries';
import type { MsalClientFactory } from './msal-client';
import { overtakenBySignOut, startTokenCacheRead, type TokenCacheRead } from './token-cache';
import type { Tombstones } from '../logout/tombstones';
import { TokenCacheKeyError } from './token-encryption';

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

interface CacheLookup {
  /** The read, resolved: MSAL gets the same bytes the lookup judged. */
  read: TokenCacheRead;
  serialized?: string;
  token?: string;
}

/**
 * How long a refresh lease lasts: longer than the outbound timeout (10 s) that bounds the token
 * request, so a lease cannot run out while its holder's refresh is still under way; short, since
 * a holder that died (a crashed instance) keeps the others waiting that long.
 */
export const REFRESH_LEASE_MS = 15_000;
const LEASE_POLL_MS = 50;

export interface TokenCacheAccess {
  tokens: Store<string>;
  /** Leases shared by every instance (Stores.lease): one refresh per user at a time. */
  leases: Pick<Stores, 'lease' | 'releaseLease'>;
  /** Read again after a refresh: a sign-out during it must keep its token from being used. */
  tombstones: Pick<Tombstones, 'signedOutAt'>;
  /** Opens the user's sealed entry (OpenedEntries: the same value is opened once per instance). */
  opened: Pick<OpenedEntries, 'open'>;
  clientId: string;
  /** MSAL's realm for accounts without a tenant (IdentityProvider.authorityTenant). */
  authorityTenant?: string;
  /** ACCESS_TOKEN_MIN_REMAINING_SHARE: how much of a cached token's life must be left to reuse it. */
  minRemainingShare?: number;
  /** Counts refresh grants and single-flight waits (none: not counted). */
  metrics?: Pick<Metrics, 'refreshGrant' | 'singleFlightWait'>;
}

/**
 * The user's access token for the downstream API, from the server-side cache, refreshed silently
 * when needed. Single-flight per user and scopes within this instance (fifty parallel calls with
 * an expired token cause one refresh: MSAL dedupes only within one client, and ours are per
 * request), and one refresh per user across instances through a lease in the shared store.
 * The user's cache entry is read once per call (never kept): a plainly valid access token in it
 * is used as is (cached-token.ts); for anything else MSAL decides, from that same read.
 */
export function accessTokens(msal: MsalClientFactory, log: Logger, cache: TokenCacheAccess) {
  const inFlight = new Map<string, Promise<string>>();

  /** The entry read once (the given read, or a fresh one) and the usable token in it, if any. */
  async function lookUp(user: SessionUser, scopes: string[], request: AccessTokenRequest, given?: TokenCacheRead): Promise<CacheLookup> {
    const read = given ?? startTokenCacheRead(cache.tokens, user.homeAccountId);
    const sealed = await read.sealed;
    if (!sealed) return { read: { ...read, sealed: Promise.resolve(sealed) } };
    let opened: OpenedEntry;
    try {
      opened = cache.opened.open(sealed, user.homeAccountId);
    } catch (err) {
      throw tokenError(err, user, log);
    }
    const { serialized } = opened;
    const token = usableAccessToken(opened.accessTokens, {
      homeAccountId: user.homeAccountId,
      ...user.account,
      clientId: cache.clientId,
      authorityTenant: cache.authorityTenant,
      minRemainingShare: cache.minRemainingShare,
      scopes,
    });
    return { read: { ...read, sealed: Promise.resolve(sealed) }, serialized, token: token && token !== request.rejected ? token : undefined };
  }

  /**
   * The refresh lease of this user, or a token another holder's refresh left in the entry.
   * Waits (polling the entry) while another instance holds the lease; a holder that died loses
   * it when it expires, and the lease is then taken here. Bounded: past the lease and a second,
   * the store is taken to be failing (503).
   */
  async function refreshLeaseOrToken(user: SessionUser, scopes: string[], request: AccessTokenRequest): Promise<{ lease: string } | { token: string }> {
    const name = `refresh:${userKey(user.homeAccountId)}`;
    const giveUpAt = Date.now() + REFRESH_LEASE_MS + 1000;
    for (let waited = false; ; waited = true) {
      const lease = await cache.leases.lease(name, REFRESH_LEASE_MS);
      if (lease) return { lease };
      if (!waited) cache.metrics?.singleFlightWait('lease');
      await new Promise((r) => setTimeout(r, LEASE_POLL_MS));
      const { token } = await lookUp(user, scopes, request);
      if (token) return { token: await notSignedOutSince(user, request, token) };
      if (Date.now() > giveUpAt) throw new HttpError(503, 'upstream_unavailable', 'The sign-in could not be renewed in time; try again shortly.', { headers: { 'Retry-After': '1' } });
    }
  }

  async function acquire(user: SessionUser, scopes: string[], request: AccessTokenRequest): Promise<string> {
    // The read begun with the session check holds the refused token: look again.
    const first = await lookUp(user, scopes, request, request.rejected ? undefined : request.pending);
    // The pending read went with the session's tombstone check; a fresh one is checked again.
    if (first.token) return request.rejected ? notSignedOutSince(user, request, first.token) : first.token;

    // A refresh is due. One per user at a time across every instance: providers that rotate
    // refresh tokens with reuse detection (Auth0, Okta, Keycloak, oidc-provider) refuse the
    // second use of a refresh token and may revoke the whole grant (FINDINGS).
    const held = await refreshLeaseOrToken(user, scopes, request);
    if ('token' in held) return held.token;
    try {
      // Under the lease, read again: another holder may have refreshed since the first read.
      const current = await lookUp(user, scopes, request);
      if (current.token) return notSignedOutSince(user, request, current.token);
      return await refresh(user, scopes, request, current);
    } finally {
      await cache.leases.releaseLease(`refresh:${userKey(user.homeAccountId)}`, held.lease).catch(() => {});
    }
  }

  /** MSAL decides from `current` (and refreshes); an invalid_grant first looks for a token another refresh left. */
  async function refresh(user: SessionUser, scopes: string[], request: AccessTokenRequest, current: CacheLookup): Promise<string> {
    // Refresh only while the entry still holds the refused token: once another call replaced
    // it, MSAL's cache answers (one refresh however many calls the API refused it to).
    const forceRefresh = request.rejected !== undefined && current.serialized !== undefined && holdsAccessToken(current.serialized, request.rejected);
    const client = msal({ homeAccountId: user.homeAccountId, pending: current.read, guard: { tombstoneSeen: request.signedOutAt } });
    try {
      const result = await client.acquireTokenSilent({
        account: { homeAccountId: user.homeAccountId, ...user.account, name: user.name },
        scopes,
        forceRefresh,
      });
      // A token MSAL still found valid (the share rule is ours, not MSAL's) is no grant.
      if (!result.fromCache) cache.metrics?.refreshGrant('ok');
      if (!result.accessToken) throw new HttpError(401, 'reauthenticate', 'Sign in again to continue.');
      // The refresh took a round trip to the IdP: a sign-out that returned meanwhile has removed
      // what it wrote (TokenCacheClient), and must keep this call from using it too.
      return await notSignedOutSince(user, request, result.accessToken);
    } catch (err) {
      if (!(err instanceof HttpError)) cache.metrics?.refreshGrant(refreshFailure(err));
      if (err instanceof AuthError && err.errorCode === 'invalid_grant') {
        // Another refresh (a lease that expired, an instance of an older version) may have
        // used the refresh token first and left a new token: that is the answer, not a sign-in.
        const after = await lookUp(user, scopes, request);
        if (after.token) return notSignedOutSince(user, request, after.token);
      }
      throw tokenError(err, user, log);
    }
  }

  /**
   * `token`, read from the store (or obtained) after this request's session check, once the
   * user's tombstone is read again and found unchanged: a sign-out in between (its tombstone is
   * written before anything is deleted) may have let a later sign-in's entry, or a refresh of the
   * signed-out grant, into the store, and this request, older than that sign-out, must not use it.
   * Throws 401 unauthenticated.
   */
  async function notSignedOutSince(user: SessionUser, request: AccessTokenRequest, token: string): Promise<string> {
    if (overtakenBySignOut({ tombstoneSeen: request.signedOutAt }, await cache.tombstones.signedOutAt(user.homeAccountId))) {
      throw new HttpError(401, 'unauthenticated', 'You were signed out. Sign in again.');
    }
    return token;
  }

  return function accessTokenFor(user: SessionUser, scopes: string[], request: AccessTokenRequest): Promise<string> {
    // A renewal is shared only among calls that the API refused the same token to.
    const renewing = request.rejected ? ` renew:${createHash('sha256').update(request.rejected).digest('base64url')}` : '';
    const key = `${user.homeAccountId} ${request.signedOutAt} ${scopes.join(' ')}${renewing}`;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = acquire(user, scopes, request).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    } else cache.metrics?.singleFlightWait('in_process');
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

/**
 * The IdP will not issue a token for these scopes until the user consents to them in a sign-in
 * that asks for them (incremental consent): the session itself is fine. Thrown as a 401
 * reauthenticate; the proxy adds the `signInUrl` that asks for the API's scopes.
 */
export class ConsentRequiredError extends HttpError {
  constructor(cause: unknown) {
    super(401, 'reauthenticate', 'Sign in to allow this app to use the API.', { cause });
    this.name = 'ConsentRequiredError';
  }
}

/** Entra's "the user or administrator has not consented" (AADSTS65001). */
const ENTRA_CONSENT_REQUIRED = '65001';

/**
 * Whether the IdP refused a token for scopes not granted yet, rather than the grant as a whole:
 * Entra answers invalid_grant with suberror consent_required and AADSTS65001 (or
 * consent_required itself); oidc-provider, invalid_scope for a scope its refresh token lacks
 * (refresh_token grant, RFC 6749 §6) or invalid_target for a resource it lacks (RFC 8707 §2).
 */
export function consentRequired(err: unknown): boolean {
  if (!(err instanceof AuthError)) return false;
  const errorNo = (err as { errorNo?: unknown }).errorNo;
  return (
    ['consent_required', 'invalid_scope', 'invalid_target'].includes(err.errorCode) ||
    err.subError === 'consent_required' ||
    String(errorNo) === ENTRA_CONSENT_REQUIRED
  );
}

/** Why a refresh grant failed, as bff_token_refreshes_total counts it (the same reading as tokenError's). */
function refreshFailure(err: unknown): Exclude<RefreshOutcome, 'ok'> {
  if (consentRequired(err)) return 'consent_required';
  if (err instanceof AuthError && err.errorCode === 'invalid_grant') return 'invalid_grant';
  if (err instanceof InteractionRequiredAuthError || (err instanceof AuthError && REAUTH_CODES.has(err.errorCode))) return 'interaction_required';
  if (err instanceof TokenCacheKeyError) return 'error';
  return 'upstream';
}

function tokenError(err: unknown, user: SessionUser, log: Logger): HttpError {
  if (err instanceof HttpError) return err;
  if (consentRequired(err)) return new ConsentRequiredError(err);
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
