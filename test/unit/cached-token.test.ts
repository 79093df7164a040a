import { describe, expect, it, vi } from 'vitest';
import { MSAL_RENEWAL_MARGIN_SECONDS, renewalMarginSeconds, usableCachedAccessToken } from '../../server/auth/cached-token';

const now = 1_800_000_000;
const query = { homeAccountId: 'u1', environment: 'idp.example', tenantId: 't1', clientId: 'bff', scopes: ['api://sample-api/access_as_user'], nowSeconds: now };

function accessToken(overrides: Record<string, unknown> = {}) {
  return {
    home_account_id: 'u1',
    environment: 'idp.example',
    credential_type: 'AccessToken',
    client_id: 'bff',
    realm: 't1',
    target: 'api://sample-api/access_as_user',
    secret: 'the-access-token',
    cached_at: String(now - 60),
    expires_on: String(now + 3600),
    token_type: 'Bearer',
    ...overrides,
  };
}

const cacheWith = (...tokens: object[]) => JSON.stringify({ Account: {}, IdToken: {}, RefreshToken: {}, AccessToken: Object.fromEntries(tokens.map((t, i) => [`k${i}`, t])) });

describe('a cached access token used without MSAL only when MSAL would hand it out as is', () => {
  it('returns the one Bearer token of this account, client, tenant and environment for the scopes', () => {
    expect(usableCachedAccessToken(cacheWith(accessToken()), query)).toBe('the-access-token');
    expect(usableCachedAccessToken(cacheWith(accessToken({ target: 'openid API://Sample-API/access_as_user profile' })), query)).toBe('the-access-token');
  });

  it.each([
    ['another user', { home_account_id: 'u2' }],
    ['another client', { client_id: 'other' }],
    ['another tenant', { realm: 't2' }],
    ['another environment', { environment: 'elsewhere.example' }],
    ['other scopes', { target: 'api://other/access_as_user' }],
    ['a long-lived token within MSAL\'s renewal margin', { cached_at: String(now - 3300), expires_on: String(now + MSAL_RENEWAL_MARGIN_SECONDS) }],
    ['a 120 s token with less than a quarter of its life left', { cached_at: String(now - 91), expires_on: String(now + 29) }],
    ['a token filed under the authority\'s tenant for an account that has a tenant', { realm: 'api' }],
    ['an expired token', { expires_on: String(now - 1) }],
    ['a refresh_on that has passed', { refresh_on: String(now - 1) }],
    ['a clock turned back (cached in the future)', { cached_at: String(now + 60) }],
    ['a PoP token', { token_type: 'pop', key_id: 'k' }],
    ['no token type', { token_type: undefined }],
    ['a claims-bound token', { requested_claims_hash: 'abc' }],
    ['another credential type', { credential_type: 'AccessToken_With_AuthScheme' }],
  ])('leaves %s to MSAL', (_, overrides) => {
    expect(usableCachedAccessToken(cacheWith(accessToken(overrides)), query)).toBeUndefined();
  });

  it('leaves several candidates, no token and an unreadable cache to MSAL', () => {
    expect(usableCachedAccessToken(cacheWith(accessToken(), accessToken({ secret: 'another' })), query)).toBeUndefined();
    expect(usableCachedAccessToken(cacheWith(), query)).toBeUndefined();
    expect(usableCachedAccessToken('not json', query)).toBeUndefined();
    expect(usableCachedAccessToken(cacheWith(accessToken()), { ...query, scopes: [] })).toBeUndefined();
  });
});

describe('short-lived access tokens are reused while a share of their life is left', () => {
  it.each([
    [60, 15],
    [120, 30],
    [300, 75],
    [1200, 300],
    [3600, 300],
    [20, 10],
  ])('a %i s token is renewed %i s before it expires', (lifetime, margin) => {
    expect(renewalMarginSeconds(lifetime)).toBe(margin);
    const token = (age: number) => cacheWith(accessToken({ cached_at: String(now - age), expires_on: String(now - age + lifetime) }));
    expect(usableCachedAccessToken(token(lifetime - margin - 1), query)).toBe('the-access-token');
    expect(usableCachedAccessToken(token(lifetime - margin), query)).toBeUndefined();
  });

  it('takes the share from ACCESS_TOKEN_MIN_REMAINING_SHARE', () => {
    expect(renewalMarginSeconds(120, 0.5)).toBe(60);
    const token = cacheWith(accessToken({ cached_at: String(now - 70), expires_on: String(now + 50) }));
    expect(usableCachedAccessToken(token, query)).toBe('the-access-token');
    expect(usableCachedAccessToken(token, { ...query, minRemainingShare: 0.5 })).toBeUndefined();
  });
});

describe('providers whose ID tokens carry no tid and whose authority has a path (Glewlwyd, Keycloak)', () => {
  it("finds the token MSAL filed under the authority's tenant for an account whose tenant is empty", () => {
    const noTenant = { ...query, tenantId: '', authorityTenant: 'api' };
    expect(usableCachedAccessToken(cacheWith(accessToken({ realm: 'api' })), noTenant)).toBe('the-access-token');
    expect(usableCachedAccessToken(cacheWith(accessToken({ realm: '' })), noTenant)).toBe('the-access-token');
    expect(usableCachedAccessToken(cacheWith(accessToken({ realm: 'other' })), noTenant)).toBeUndefined();
  });
});

describe("the clock is MSAL's (rounded seconds)", () => {
  it('uses a token MSAL cached in the second half of this second, whose cached_at is one ahead of the floored time', () => {
    vi.useFakeTimers({ now: (now + 0.6) * 1000 });
    try {
      const { nowSeconds: _, ...live } = query;
      expect(usableCachedAccessToken(cacheWith(accessToken({ cached_at: String(now + 1), expires_on: String(now + 3601) })), live)).toBe('the-access-token');
    } finally {
      vi.useRealTimers();
    }
  });
});
