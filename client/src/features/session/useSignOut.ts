import { useCallback, useState } from 'react';
import { requestLogout } from './api';
import { announce } from './channel';
import { signOutWithRetries } from './signOutAttempts';

/** GET /auth/end-session: the BFF redirects to the IdP's end-session endpoint; works with no session. */
export const END_SESSION_PATH = '/auth/end-session';

export type SignOutState = { status: 'idle' } | { status: 'signingOut' } | { status: 'failed'; message: string };

/**
 * Global sign-out: the BFF drops this user's tokens and sessions, the other tabs hear of it,
 * then the whole page goes to the IdP's end-session URL so the IdP session ends too, and comes
 * back here signed out. If the BFF session had already ended, the IdP session is ended anyway.
 * A sign-out the BFF could not confirm (503) is tried again (signOutWithRetries).
 */
export function useSignOut() {
  const [state, setState] = useState<SignOutState>({ status: 'idle' });

  const signOut = useCallback(async () => {
    setState({ status: 'signingOut' });
    const outcome = await signOutWithRetries(requestLogout, END_SESSION_PATH);
    if ('failed' in outcome) {
      setState({ status: 'failed', message: outcome.failed });
      return;
    }
    announce({ type: 'signed-out' });
    const target = new URL(outcome.go, window.location.href);
    if (target.protocol !== 'https:' && target.protocol !== 'http:') {
      setState({ status: 'failed', message: 'Sign-out could not be completed. Try again.' });
      return;
    }
    // Stays "signing out" while the page leaves.
    window.location.assign(target.toString());
  }, []);

  return { state, signOut };
}
