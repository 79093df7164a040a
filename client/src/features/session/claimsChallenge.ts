/**
 * A claims challenge from the API (Conditional Access, Continuous Access Evaluation): the BFF
 * answers 401 reauthenticate with a `signInUrl` that signs in again asking the IdP for those
 * claims, then comes back to this route. The SPA follows it by itself once per route in a
 * while: if the IdP's new token still does not satisfy the API, the next challenge shows a
 * "Sign in again" button instead of sending the user round again and again.
 */

/** How long a route that was sent to sign in for a claims challenge is not sent again by itself. */
export const QUIET_MS = 5 * 60_000;
/** sessionStorage: per route, when it was last sent to sign in (no secret, no claims). */
const KEY_PREFIX = 'bff.claimsSignIn:';

/** A path to the BFF's own sign-in, as the BFF writes signInUrl: nothing else is followed. */
export function isSignInPath(value: unknown, origin: string): value is string {
  if (typeof value !== 'string' || !value.startsWith('/auth/login?')) return false;
  try {
    const url = new URL(value, origin);
    return url.origin === origin && url.pathname === '/auth/login';
  } catch {
    return false;
  }
}

/**
 * Whether `route` may be sent to sign in now, and if so records it. No storage (disabled,
 * full, private mode) means no: a loop nothing can stop is worse than one click.
 */
export function takeClaimsSignIn(route: string, storage: Pick<Storage, 'getItem' | 'setItem'>, now: number): boolean {
  try {
    const key = KEY_PREFIX + route;
    const last = Number(storage.getItem(key));
    if (last > 0 && now - last < QUIET_MS && now >= last) return false;
    storage.setItem(key, String(now));
    return storage.getItem(key) === String(now);
  } catch {
    return false;
  }
}
