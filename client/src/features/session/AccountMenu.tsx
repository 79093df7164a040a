import type { SessionUser } from '../../../../shared/api';
import { Link } from '../../lib/router';
import { useSignOut } from './useSignOut';

/** The header's end: the signed-in user's name, their sessions page, and the global sign-out button. */
export function AccountMenu({ user }: { user: SessionUser }) {
  const { state, signOut } = useSignOut();
  const busy = state.status === 'signingOut';
  return (
    <div className="account">
      <span className="account-name" title={user.email ?? user.username}>
        <span className="visually-hidden">Signed in as </span>
        {user.name}
      </span>
      <Link to="/sessions" className="account-link">
        Your sessions
      </Link>
      <button type="button" className="button" onClick={() => void signOut()} disabled={busy} aria-busy={busy}>
        {busy ? 'Signing out…' : 'Sign out'}
      </button>
      {state.status === 'failed' && (
        <p className="error account-error" role="alert">
          {state.message}
        </p>
      )}
    </div>
  );
}
