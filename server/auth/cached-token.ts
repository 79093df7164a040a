/**
 * The one case of acquireTokenSilent that needs no decision, read straight from MSAL's serialized
 * cache (the shared MSAL cache schema): exactly one Bearer access token of this account, client,
 * tenant and environment, for at least the requested scopes, valid beyond its renewal margin
 * (renewalMarginSeconds: MSAL's for long-lived tokens, shorter for short-lived ones) and not
 * due for a proactive refresh. When this says no, MSAL decides, and renews what it finds. Anything else
 * (no token, several, expiring, refresh due, another token type, claims-bound) is undefined,
 * and MSAL decides as always. The profile put MSAL's own path at ~0.5 ms of CPU per API call
 * (authority resolution, request thumbprint, two parses of the blob); this lookup is a few µs.
 */

/** MSAL renews an access token that expires within this many seconds (fixed in MSAL, FINDINGS). */
export const MSAL_RENEWAL_MARGIN_SECONDS = 300;
/** The default of ACCESS_TOKEN_MIN_REMAINING_SHARE: a token is reused while a quarter of its life is left. */
export const DEFAULT_MIN_REMAINING_SHARE = 0.25;
/** However short-lived, a token is renewed this long before it expires (a call and some skew). */
export const MIN_RENEWAL_MARGIN_SECONDS = 10;

/**
 * How long before expiry an access token of this lifetime is renewed (s): MSAL's 300 s for
 * long-lived tokens, but never more than `minRemainingShare` of the token's life, so a 120 s
 * token (Keycloak's default is 300 s) is used for 90 s instead of not at all (with MSAL's rule,
 * every call would refresh: FINDINGS). Never under MIN_RENEWAL_MARGIN_SECONDS.
 */
export function renewalMarginSeconds(lifetimeSeconds: number, minRemainingShare = DEFAULT_MIN_REMAINING_SHARE): number {
  return Math.min(MSAL_RENEWAL_MARGIN_SECONDS, Math.max(MIN_RENEWAL_MARGIN_SECONDS, Math.ceil(minRemainingShare * lifetimeSeconds)));
}

export interface CachedTokenQuery {
  homeAccountId: string;
  environment: string;
  tenantId: string;
  clientId: string;
  scopes: readonly string[];
  /**
   * The realm MSAL files access tokens under when the ID token has no `tid`: its Authority's
   * tenant, the authority's first path segment (`api` for Glewlwyd's /api/oidc, `realms` for
   * Keycloak), while such an account's tenant is ''. IdentityProvider.authorityTenant.
   */
  authorityTenant?: string;
  /** ACCESS_TOKEN_MIN_REMAINING_SHARE (see renewalMarginSeconds). */
  minRemainingShare?: number;
  nowSeconds?: number;
}

export interface AccessTokenEntity {
  home_account_id?: unknown;
  environment?: unknown;
  credential_type?: unknown;
  client_id?: unknown;
  realm?: unknown;
  target?: unknown;
  secret?: unknown;
  cached_at?: unknown;
  expires_on?: unknown;
  refresh_on?: unknown;
  key_id?: unknown;
  attribute_tokens?: unknown;
  token_type?: unknown;
  requested_claims?: unknown;
  requested_claims_hash?: unknown;
}

export function usableCachedAccessToken(serialized: string, query: CachedTokenQuery): string | undefined {
  const entities = accessTokenEntities(serialized);
  return entities && usableAccessToken(entities, query);
}

/** The AccessToken entities of MSAL's serialized cache, or undefined when it does not parse. */
export function accessTokenEntities(serialized: string): AccessTokenEntity[] | undefined {
  try {
    const cache = JSON.parse(serialized) as { AccessToken?: Record<string, AccessTokenEntity> } | null;
    return Object.values(cache?.AccessToken ?? {}).filter((at): at is AccessTokenEntity => typeof at === 'object' && at !== null);
  } catch {
    return undefined;
  }
}

/** usableCachedAccessToken on entities already parsed (accessTokenEntities); they are only read. */
export function usableAccessToken(entities: readonly AccessTokenEntity[], query: CachedTokenQuery): string | undefined {
  // MSAL's clock (TimeUtils.nowSeconds) rounds: a token cached in the second half of a second
  // has cached_at one ahead of a floored now, and would look like it came from the future.
  const now = query.nowSeconds ?? Math.round(Date.now() / 1000);
  const wanted = query.scopes.map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (wanted.length === 0) return undefined;
  const matches = entities.filter((at) => {
    if (
      at.credential_type !== 'AccessToken' ||
      at.home_account_id !== query.homeAccountId ||
      at.environment !== query.environment ||
      !(at.realm === query.tenantId || (query.tenantId === '' && at.realm === (query.authorityTenant ?? ''))) ||
      at.client_id !== query.clientId ||
      typeof at.target !== 'string'
    ) {
      return false;
    }
    const granted = new Set(at.target.toLowerCase().split(' '));
    return wanted.every((s) => granted.has(s));
  });
  // Several candidates are MSAL's to judge (it refuses them); so is any doubt about this one.
  if (matches.length !== 1) return undefined;
  const [at] = matches as [AccessTokenEntity];
  if (typeof at.secret !== 'string' || !at.secret) return undefined;
  if (typeof at.token_type !== 'string' || at.token_type.toLowerCase() !== 'bearer') return undefined;
  if (at.requested_claims || at.requested_claims_hash || at.key_id || at.attribute_tokens) return undefined;
  // MSAL refreshes when the clock went back past cached_at, when the token expires within the
  // margin, and (in the background) once refresh_on has passed: all of those are MSAL's.
  const cachedAt = Number(at.cached_at);
  if (!(cachedAt <= now)) return undefined;
  const expiresOn = Number(at.expires_on);
  if (!Number.isFinite(expiresOn) || expiresOn <= now + renewalMarginSeconds(expiresOn - cachedAt, query.minRemainingShare)) return undefined;
  if (at.refresh_on !== undefined && !(Number(at.refresh_on) > now)) return undefined;
  return at.secret;
}
