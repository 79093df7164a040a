import { useCallback, useEffect, useRef, useState } from 'react';
import type { SessionUser } from '../../../../shared/api';
import { BffError, onSignedOut } from '../../bffFetch';
import { currentLocation } from '../../lib/router';
import { fetchSession, loginUrl } from './api';
import { announce, onAnnouncement } from './channel';
import { forgetSilentSignIn, takeSilentSignIn } from './silentSignIn';

/**
 * Why the page shows signed out:
 * - `welcome`: nobody was signed in when the page loaded;
 * - `signedOut`: the user signed out here and came back from the IdP;
 * - `ended`: the session ended while the page was open (a sign-out in another tab or app, a
 *   front- or back-channel logout, an expiry): "You have been signed out";
 * - `signInAgain`: the API asks for a new sign-in with more claims, and this route was already
 *   sent to one a moment ago (claimsChallenge.ts): the session lives on, other tabs are not told.
 */
export type SignedOutReason = 'welcome' | 'signedOut' | 'ended' | 'signInAgain';

export type SessionState =
  | { status: 'loading' }
  /** `signInAgain`: the API asked for a new sign-in (a claims challenge) and `signInUrl` gives it. */
  | { status: 'signedOut'; reason: SignedOutReason; detail?: string; signInUrl?: string }
  | { status: 'signedIn'; user: SessionUser; expiresAt: string }
  | { status: 'error'; message: string };

/**
 * The browser's session at the BFF. A sign-out that happened elsewhere shows here without a
 * reload: any 401 from the BFF, a re-check of /auth/session whenever the tab becomes visible or
 * focused again, and this app's other tabs (BroadcastChannel) all turn the page signed out.
 */
export function useSession({ cameBackFromSignOut }: { cameBackFromSignOut: boolean }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });
  // What is on screen, for the event handlers below (they must not re-subscribe on each change).
  const shown = useRef<SessionState['status']>('loading');
  const checking = useRef<Promise<void> | null>(null);

  useEffect(() => {
    shown.current = state.status;
  }, [state.status]);

  /** The session is gone. `tellOtherTabs` is false when another tab told us. */
  const ended = useCallback((tellOtherTabs: boolean, detail?: string) => {
    if (tellOtherTabs) announce({ type: 'signed-out' });
    shown.current = 'signedOut';
    setState((previous) => (previous.status === 'signedOut' ? previous : { status: 'signedOut', reason: 'ended', detail }));
  }, []);

  const check = useCallback(
    (options: { signal?: AbortSignal; quiet?: boolean } = {}): Promise<void> => {
      // One background check at a time: focus and visibilitychange often fire together.
      if (checking.current && options.quiet) return checking.current;
      const run = (async () => {
        try {
          const info = await fetchSession(options.signal);
          if (info.isAuthenticated) {
            if (shown.current !== 'signedIn') {
              announce({ type: 'signed-in' });
              forgetSilentSignIn(window.sessionStorage);
            }
            shown.current = 'signedIn';
            setState({ status: 'signedIn', user: info.user, expiresAt: info.expiresAt });
          } else if (shown.current === 'signedIn') {
            ended(true);
          } else if (shown.current === 'loading' && takeSilentSignIn(info, cameBackFromSignOut, window.sessionStorage)) {
            // Still "Checking your session…" while the page goes through the IdP and back.
            window.location.assign(loginUrl(currentLocation(), { silent: true }));
          } else if (shown.current !== 'signedOut') {
            shown.current = 'signedOut';
            setState({ status: 'signedOut', reason: cameBackFromSignOut ? 'signedOut' : 'welcome' });
          }
        } catch (err) {
          if (options.signal?.aborted) return;
          // A 401 has already turned the page signed out (onSignedOut below).
          if (err instanceof BffError && err.status === 401) return;
          // A background check that fails keeps what is shown; the next call will tell.
          if (options.quiet) return;
          shown.current = 'error';
          setState({ status: 'error', message: err instanceof BffError ? err.message : 'Your session could not be checked.' });
        } finally {
          checking.current = null;
        }
      })();
      checking.current = run;
      return run;
    },
    [cameBackFromSignOut, ended],
  );

  useEffect(() => {
    const controller = new AbortController();
    void check({ signal: controller.signal });
    return () => controller.abort();
  }, [check]);

  useEffect(
    () =>
      onSignedOut((error) => {
        if (!error.signInUrl) return ended(true, error.code === 'reauthenticate' ? error.message : undefined);
        shown.current = 'signedOut';
        setState({ status: 'signedOut', reason: 'signInAgain', signInUrl: error.signInUrl });
      }),
    [ended],
  );

  useEffect(
    () =>
      onAnnouncement((message) => {
        if (message.type === 'signed-out') ended(false);
        else if (shown.current !== 'signedIn') void check({ quiet: true });
      }),
    [check, ended],
  );

  useEffect(() => {
    const recheck = () => {
      if (document.visibilityState === 'visible') void check({ quiet: true });
    };
    // A page restored from the back-forward cache fires pageshow, not visibilitychange.
    const onPageShow = (event: PageTransitionEvent) => {
      if (event.persisted) void check({ quiet: true });
    };
    document.addEventListener('visibilitychange', recheck);
    window.addEventListener('focus', recheck);
    window.addEventListener('pageshow', onPageShow);
    return () => {
      document.removeEventListener('visibilitychange', recheck);
      window.removeEventListener('focus', recheck);
      window.removeEventListener('pageshow', onPageShow);
    };
  }, [check]);

  const retry = useCallback(() => {
    shown.current = 'loading';
    setState({ status: 'loading' });
    void check();
  }, [check]);

  return { state, retry, signIn };
}

/** Sends the whole page to the BFF's sign-in, to come back to the route the user is on. */
export function signIn() {
  window.location.assign(loginUrl(currentLocation()));
}
