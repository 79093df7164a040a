import { useId } from 'react';
import { SessionList } from '../features/sessions/SessionList';
import { useUserSessions } from '../features/sessions/useUserSessions';
import { useSignOut } from '../features/session/useSignOut';

/**
 * "Your sessions": every browser signed in to this app as you, with "Sign out this device" for
 * the others (that browser only, at once) and "Sign out everywhere" (the global sign-out: every
 * session here and the identity provider's).
 */
export function SessionsView() {
  const headingId = useId();
  const everywhereId = useId();
  const { state, reload, ending, end } = useUserSessions();
  const { state: signOutState, signOut } = useSignOut();
  const signingOut = signOutState.status === 'signingOut';
  return (
    <>
      <section className="panel" aria-labelledby={headingId}>
        <h1 id={headingId}>Your sessions</h1>
        <p className="muted">The browsers signed in to this app as you. Signing out another device ends its session here at once; it does not sign you out of your identity provider there.</p>
        <div aria-live="polite" aria-busy={state.status === 'loading'}>
          {state.status === 'loading' && (
            <p className="muted" role="status">
              Loading your sessions…
            </p>
          )}
          {state.status === 'failed' && (
            <div className="card-error">
              <p className="error" role="alert">
                {state.error.message} <span className="code">({state.error.code})</span>
              </p>
              <button type="button" className="button small" onClick={() => void reload()}>
                Try again
              </button>
            </div>
          )}
          {ending.status === 'ended' && (
            <p className="notice" role="status">
              {ending.device} was signed out.
            </p>
          )}
          {state.status === 'done' && <SessionList sessions={state.data.sessions} ending={ending} onEnd={(handle, device) => void end(handle, device)} />}
        </div>
      </section>
      <section className="panel" aria-labelledby={everywhereId}>
        <h2 id={everywhereId}>Sign out everywhere</h2>
        <p className="muted">Ends every session listed here, removes your tokens from this app, and signs you out of your identity provider.</p>
        <button type="button" className="button" onClick={() => void signOut()} disabled={signingOut} aria-busy={signingOut}>
          {signingOut ? 'Signing out…' : 'Sign out everywhere'}
        </button>
        {signOutState.status === 'failed' && (
          <p className="error" role="alert">
            {signOutState.message}
          </p>
        )}
      </section>
    </>
  );
}
