import { useId } from 'react';
import type { SessionUser } from '../../shared/api';
import { ProfileCard } from './features/profile/ProfileCard';
import { useProfile } from './features/profile/useProfile';
import { AccountMenu } from './features/session/AccountMenu';
import { SignedOutView } from './features/session/SignedOutView';
import { useSession } from './features/session/useSession';
import { TodoList } from './features/todos/TodoList';
import { useTodos } from './features/todos/useTodos';

const PRODUCT_NAME = 'Global Sign-out BFF';

export function App() {
  const { state, retry, signIn } = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <span className="brand">
            <span className="brand-mark" aria-hidden="true" />
            {PRODUCT_NAME}
          </span>
          {state.status === 'signedIn' && <AccountMenu user={state.user} />}
        </div>
      </header>
      <main id="main" className="content" tabIndex={-1}>
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
        {state.status === 'signedOut' && <SignedOutView notice={state.notice} onSignIn={signIn} />}
        {state.status === 'signedIn' && <SignedInView user={state.user} />}
      </main>
    </>
  );
}

function SignedInView({ user }: { user: SessionUser }) {
  const headingId = useId();
  const profile = useProfile();
  const todos = useTodos();
  const callApi = () => {
    void profile.load();
    void todos.load();
  };
  return (
    <>
      <section className="panel" aria-labelledby={headingId}>
        <h1 id={headingId}>Hello, {user.name.split(' ')[0]}</h1>
        <p className="muted">
          The BFF calls the API for you with an access token that never leaves the server. Sign out here and every session of
          yours ends, at the BFF and at the identity provider.
        </p>
        {/* Stays enabled (a disabled button drops focus): a second click restarts both calls. */}
        <button type="button" className="button primary" onClick={callApi}>
          Call the API
        </button>
      </section>
      <div className="cards">
        <ProfileCard state={profile.state} />
        <TodoList state={todos.state} />
      </div>
    </>
  );
}
