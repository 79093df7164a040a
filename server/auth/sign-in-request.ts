import { badRequest } from '../errors';
import { safeReturnTo } from './return-to';

/**
 * What every sign-in request and its code redemption share: the redirect URI, the scopes, and
 * claims requests (OpenID Connect Core §5.5) — what a claims challenge from the API (Entra
 * Conditional Access, CAE) turns into, the `claims` parameter of /auth/login, and the size
 * budget the pending sign-in cookie imposes on them.
 */

export const callbackUrl = (publicUrl: string) => `${publicUrl}/auth/callback`;

/** Every sign-in asks for these: MSAL adds openid, profile and offline_access itself. */
export const loginScopes = (apiScopes: readonly string[]) => ['email', ...apiScopes];

/**
 * `scope` on /auth/login (incremental consent, as signInPath writes it): some or all scopes of
 * ONE configured API, space-separated; absent, the default API's. Anything else is 400
 * invalid_scope, so a sign-in never asks the IdP for scopes someone else chose, and a code is
 * redeemed for one resource (Entra refuses two: AADSTS28000).
 */
export function scopeParameter(raw: unknown, apis: readonly { scopes: readonly string[] }[]): string[] | undefined {
  if (raw === undefined) return undefined;
  const invalid = () => badRequest('invalid_scope', "The scope parameter must name scopes of one of this application's APIs.");
  if (typeof raw !== 'string' || raw.length > MAX_LOGIN_QUERY) throw invalid();
  const scopes = [...new Set(raw.split(' ').filter(Boolean))];
  if (scopes.length === 0 || !apis.some((api) => scopes.every((s) => api.scopes.includes(s)))) throw invalid();
  return scopes;
}

/** /auth/login refuses longer query strings. */
export const MAX_LOGIN_QUERY = 4096;
/** The largest claims request a sign-in carries (its JSON, in UTF-8 bytes). */
export const MAX_CLAIMS_BYTES = 2048;
/**
 * returnTo and claims together, past which returnTo gives way to "/": the pending sign-in's
 * sealed cookie must stay within the 4096 bytes browsers keep (RFC 6265 §6.1), and the claims
 * are what the sign-in is for.
 */
const MAX_RETURN_TO_WITH_CLAIMS = 2560;

/**
 * The same-origin sign-in URL (a path) that asks the IdP for `claims` (a claims request's
 * JSON, as claimsRequest returns it) and/or for `scopes` (a named API's, for incremental
 * consent; scopeParameter reads them back) and comes back to `returnTo`; returnTo becomes "/"
 * where it would not fit /auth/login's limits.
 */
export function signInPath(returnTo: string, { claims, scopes }: { claims?: string; scopes?: readonly string[] }): string {
  const encodedClaims = claims === undefined ? '' : `&claims=${Buffer.from(claims).toString('base64url')}`;
  const encodedScopes = scopes === undefined ? '' : `&scope=${encodeURIComponent(scopes.join(' '))}`;
  const build = (to: string) => `/auth/login?returnTo=${encodeURIComponent(to)}${encodedScopes}${encodedClaims}`;
  const path = build(fitReturnTo(safeReturnTo(returnTo), claims));
  return path.length - '/auth/login?'.length <= MAX_LOGIN_QUERY ? path : build('/');
}

/**
 * A claims request (OpenID Connect Core §5.5; Entra's claims challenges use the same shape):
 * a JSON object of at most MAX_CLAIMS_BYTES. Returns its JSON as MSAL takes it, or undefined.
 */
export function claimsRequest(json: string): string | undefined {
  if (Buffer.byteLength(json) > MAX_CLAIMS_BYTES) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const normalized = JSON.stringify(value);
  return Buffer.byteLength(normalized) <= MAX_CLAIMS_BYTES ? normalized : undefined;
}

/** `claims` on /auth/login: the JSON itself, or its base64url (what signInPath writes); absent is fine. */
export function claimsParameter(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const invalid = () => badRequest('bad_request', `The claims parameter must be a JSON object of at most ${MAX_CLAIMS_BYTES} bytes, as JSON or base64url.`);
  if (typeof raw !== 'string') throw invalid();
  let json: string | undefined = raw;
  if (!raw.startsWith('{')) {
    // One spelling of base64url only (no padding, no +/): anything else is not ours.
    const bytes = /^[A-Za-z0-9_-]+$/.test(raw) ? Buffer.from(raw, 'base64url') : undefined;
    json = bytes && bytes.toString('base64url') === raw ? utf8(bytes) : undefined;
  }
  const claims = json === undefined ? undefined : claimsRequest(json);
  if (!claims) throw invalid();
  return claims;
}

export function fitReturnTo(returnTo: string, claims: string | undefined): string {
  return claims && Buffer.byteLength(returnTo) + Buffer.byteLength(claims) > MAX_RETURN_TO_WITH_CLAIMS ? '/' : returnTo;
}

/** The bytes as UTF-8 text, or undefined when they are not (no replacement characters). */
export function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
