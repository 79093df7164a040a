import { useCallback, useState } from 'react';
import { BffError } from '../../bffFetch';
import { requestLogout } from './api';
import { announce } from './channel';

/** GET /auth/end-session: the BFF redirects to the IdP's end-session endpoint; works with no session. */
export const END_SESSION_PATH = '/auth/end-session';

export type SignOutState = { status: 'idle' } | { status: 'signingOut' } | { status: 'failed'; message: string };

/**
 * Global sign-out: the BFF drops this user's tokens and sessions, the other tabs hear of it,
 * then the whole page goes to the IdP's end-session URL so the IdP session ends too, and comes
 * back here signed out. If the BFF session had already ended, the IdP session is ended anyway.
 */
export function useSignOut() {
  const [state, setState] = useState<SignOutState>({ status: 'idle' });

  const signOut = useCallback(async () => {
    setState({ status: 'signingOut' });
    try {
      const { endSessionUrl } = await requestLogout();
      announce({ type: 'signed-out' });
      const target = new URL(endSessionUrl, window.location.href);
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error('not an http(s) URL');
      // Stays "signing out" while the page leaves.
      window.location.assign(target.toString());
    } catch (err) {
      // The BFF session had already ended (idle, or a sign-out elsewhere), but the user asked to
      // sign out: end the IdP session anyway, through the BFF's end-session route (no hint).
      if (err instanceof BffError && err.status === 401) {
        window.location.assign(END_SESSION_PATH);
        return;
      }
      setState({ status: 'failed', message: err instanceof BffError ? err.message : 'Sign-out could not be completed. Try again.' });
    }
  }, []);

  return { state, signOut };
}
