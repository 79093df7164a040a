import { useCallback, useState } from 'react';
import { BffError } from '../../bffFetch';
import { requestLogout } from './api';
import { announce } from './channel';

export type SignOutState = { status: 'idle' } | { status: 'signingOut' } | { status: 'failed'; message: string };

/**
 * Global sign-out: the BFF drops this user's tokens and sessions, the other tabs hear of it,
 * then the whole page goes to the IdP's end-session URL so the IdP session ends too, and comes
 * back here signed out.
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
      // Already signed out: bffFetch's 401 signal has switched the page to the signed-out view.
      if (err instanceof BffError && err.status === 401) return;
      setState({ status: 'failed', message: err instanceof BffError ? err.message : 'Sign-out could not be completed. Try again.' });
    }
  }, []);

  return { state, signOut };
}
