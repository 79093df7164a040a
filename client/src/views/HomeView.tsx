import { useId } from 'react';
import type { SessionUser } from '../../../shared/api';
import { ProfileCard } from '../features/profile/ProfileCard';
import { useProfile } from '../features/profile/useProfile';
import { TodoList } from '../features/todos/TodoList';
import { useTodos } from '../features/todos/useTodos';

/** Signed in: the user's profile and todo list, both fetched through the BFF as the view opens. */
export function HomeView({ user }: { user: SessionUser }) {
  const headingId = useId();
  const profile = useProfile();
  const todos = useTodos();
  const refresh = () => {
    void profile.load();
    void todos.load();
  };
  return (
    <>
      <section className="panel intro" aria-labelledby={headingId}>
        <div>
          <h1 id={headingId}>Hello, {firstName(user.name)}</h1>
          <p className="muted">
            The BFF calls the API for you with an access token that never leaves the server. Sign out here, or in any other app of
            your identity provider, and every session of yours ends.
          </p>
        </div>
        {/* Stays enabled (a disabled button drops focus): a second click restarts both calls. */}
        <button type="button" className="button" onClick={refresh}>
          Refresh
        </button>
      </section>
      <div className="cards">
        <ProfileCard state={profile.state} onRetry={() => void profile.load()} />
        <TodoList state={todos.state} onRetry={() => void todos.load()} />
      </div>
    </>
  );
}

function firstName(name: string): string {
  return name.trim().split(/\s+/)[0] || name;
}
