import { useCallback, useEffect, useState } from 'react';
import type { SessionUser } from '../../../../shared/api';
import { BffError, onSignedOut } from '../../bffFetch';
import { fetchSession, loginUrl } from './api';

const SESSION_ENDED = 'Your session has ended: you signed out elsewhere, or it expired. Sign in again to continue.';

export type SessionState =
  | { status: 'loading' }
  | { status: 'signedOut'; notice?: string }
  | { status: 'signedIn'; user: SessionUser; expiresAt: string }
  | { status: 'error'; message: string };

/**
 * The browser's session at the BFF. It turns signed out when /auth/session says so or when any
 * BFF call answers 401, and checks again when the tab comes back into view: a global sign-out
 * elsewhere should show here without a reload.
 */
export function useSession() {
  const [state, setState] = useState<SessionState>({ status: 'loading' });

  const check = useCallback(async (options: { signal?: AbortSignal; quiet?: boolean } = {}) => {
    try {
      const info = await fetchSession(options.signal);
      setState((previous) => {
        if (!info.isAuthenticated) {
          if (previous.status === 'signedIn') return { status: 'signedOut', notice: SESSION_ENDED };
          return previous.status === 'signedOut' ? previous : { status: 'signedOut' };
        }
        return { status: 'signedIn', user: info.user, expiresAt: info.expiresAt };
      });
    } catch (err) {
      if (options.signal?.aborted) return;
      // A 401 has already turned the state to signed out (onSignedOut below).
      if (err instanceof BffError && err.status === 401) return;
      // A background check that fails keeps what is shown; the next call will tell.
      if (options.quiet) return;
      setState({ status: 'error', message: err instanceof BffError ? err.message : 'Your session could not be checked.' });
    }
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    void check({ signal: controller.signal });
    return () => controller.abort();
  }, [check]);

  useEffect(
    () =>
      onSignedOut((error) => {
        setState({ status: 'signedOut', notice: signedOutNotice(error) });
      }),
    [],
  );

  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === 'visible') void check({ quiet: true });
    };
    // A page restored from the back-forward cache fires pageshow, not visibilitychange.
    const onPageShow = (event: PageTransitionEvent) => {
      if (event.persisted) void check({ quiet: true });
    };
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('pageshow', onPageShow);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('pageshow', onPageShow);
    };
  }, [check]);

  const retry = useCallback(() => {
    setState({ status: 'loading' });
    void check();
  }, [check]);

  return { state, retry, signIn };
}

/** Sends the whole page to the BFF's sign-in, to come back to where the user is now. */
export function signIn() {
  window.location.assign(loginUrl(`${window.location.pathname}${window.location.search}`));
}

function signedOutNotice(error: BffError): string {
  switch (error.code) {
    case 'reauthenticate':
      return error.message;
    default:
      return SESSION_ENDED;
  }
}
