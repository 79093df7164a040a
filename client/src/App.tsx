import { useEffect, useRef, type ReactNode } from 'react';
import { AccountMenu } from './features/session/AccountMenu';
import { SignedOutView } from './features/session/SignedOutView';
import { useSession, type SessionState } from './features/session/useSession';
import { Link, usePath } from './lib/router';
import { HomeView } from './views/HomeView';
import { NotFoundView } from './views/NotFoundView';
import { SessionView } from './views/SessionView';
import { SessionsView } from './views/SessionsView';

export const PRODUCT_NAME = 'Global Sign-out BFF';

const ROUTES: Record<string, string> = { '/': 'Your todos', '/session': 'Your session', '/sessions': 'Your sessions' };

export function App({ cameBackFromSignOut }: { cameBackFromSignOut: boolean }) {
  const { state, retry, signIn: signInHere } = useSession({ cameBackFromSignOut });
  // After a claims challenge, the sign-in the API asked for; otherwise the usual one.
  const claimsSignIn = state.status === 'signedOut' ? state.signInUrl : undefined;
  const signIn = claimsSignIn ? () => window.location.assign(claimsSignIn) : signInHere;
  const path = usePath();
  const main = useRef<HTMLElement>(null);
  const shownPath = useRef(path);

  // A client-side navigation moves the focus to the new content, as a page load would.
  useEffect(() => {
    if (path === shownPath.current) return;
    shownPath.current = path;
    main.current?.focus();
  }, [path]);

  useEffect(() => {
    document.title = `${titleOf(state, path)} · ${PRODUCT_NAME}`;
  }, [state, path]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <a className="brand" href="/">
            <span className="brand-mark" aria-hidden="true" />
            {PRODUCT_NAME}
          </a>
          {state.status === 'signedIn' && (
            <nav className="nav" aria-label="Main">
              <Link to="/">Todos</Link>
              <Link to="/session">Session</Link>
            </nav>
          )}
          {state.status === 'signedIn' && <AccountMenu user={state.user} />}
          {state.status === 'signedOut' && (
            <button type="button" className="button primary" onClick={signIn}>
              Sign in
            </button>
          )}
        </div>
      </header>
      <main id="main" ref={main} className="content" tabIndex={-1}>
        {state.status === 'loading' && (
          <p className="muted centered" role="status">
            Checking your session…
          </p>
        )}
        {state.status === 'error' && (
          <section className="panel centered">
            <p className="error" role="alert">
              {state.message}
            </p>
            <button type="button" className="button" onClick={retry}>
              Try again
            </button>
          </section>
        )}
        {state.status === 'signedOut' && <SignedOutView reason={state.reason} detail={state.detail} onSignIn={signIn} />}
        {state.status === 'signedIn' && <SignedInRoutes path={path} state={state} />}
      </main>
    </>
  );
}

function SignedInRoutes({ path, state }: { path: string; state: Extract<SessionState, { status: 'signedIn' }> }): ReactNode {
  if (path === '/') return <HomeView user={state.user} />;
  if (path === '/session') return <SessionView user={state.user} expiresAt={state.expiresAt} />;
  if (path === '/sessions') return <SessionsView />;
  return <NotFoundView />;
}

function titleOf(state: SessionState, path: string): string {
  if (state.status === 'signedOut') return state.reason === 'welcome' ? 'Sign in' : state.reason === 'signInAgain' ? 'Sign in again' : 'Signed out';
  if (state.status !== 'signedIn') return 'Loading';
  return ROUTES[path] ?? 'Not found';
}
