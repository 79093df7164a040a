import type { SessionInfo } from '../../../../shared/api';

/**
 * Silent sign-in (OIDC `prompt=none`): when the page loads signed out and the BFF says it may
 * (`silentSignIn` in /auth/session's answer: switched on, not tried lately, no sign-out in this
 * browser), the page goes once through the BFF's sign-in without a prompt. A user still signed
 * in at the IdP comes back signed in; anyone else comes back to the usual signed-out view, with
 * no error. Once per tab: the tab remembers it tried (sessionStorage), and the BFF remembers too;
 * only being signed in again ends a tab's attempt (a loop needs attempts that fail).
 */

/** sessionStorage: set when this tab has tried (no secret, no user data). */
const TRIED_KEY = 'bff.silentSignIn';

/**
 * Whether to try now, and if so records it. Never when the user just came back from signing
 * out, nor twice in one tab. No storage (disabled, full, private mode) means no: one click is
 * better than a round trip nothing here can count.
 */
export function takeSilentSignIn(info: SessionInfo, cameBackFromSignOut: boolean, storage: Pick<Storage, 'getItem' | 'setItem'>): boolean {
  if (info.isAuthenticated || !info.silentSignIn || cameBackFromSignOut) return false;
  try {
    if (storage.getItem(TRIED_KEY) !== null) return false;
    storage.setItem(TRIED_KEY, '1');
    return storage.getItem(TRIED_KEY) === '1';
  } catch {
    return false;
  }
}

/** The tab is signed in: its attempt, if any, is over; a later load signed out may try again. */
export function forgetSilentSignIn(storage: Pick<Storage, 'removeItem'>): void {
  try {
    storage.removeItem(TRIED_KEY);
  } catch {
    // No storage: nothing was recorded either.
  }
}
