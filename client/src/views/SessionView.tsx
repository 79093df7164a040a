import { useId } from 'react';
import type { SessionUser } from '../../../shared/api';

/** What the BFF tells the browser about its session: display claims and an end time, no token. */
export function SessionView({ user, expiresAt }: { user: SessionUser; expiresAt: string }) {
  const headingId = useId();
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h1 id={headingId}>Your session</h1>
      <dl className="facts">
        <dt>Name</dt>
        <dd>{user.name}</dd>
        <dt>Username</dt>
        <dd>{user.username}</dd>
        {user.email && (
          <>
            <dt>Email</dt>
            <dd>{user.email}</dd>
          </>
        )}
        <dt>Ends</dt>
        <dd>
          <time dateTime={expiresAt}>{formatTime(expiresAt)}</time> if unused until then, and as soon as you sign out anywhere
        </dd>
      </dl>
      <h2 className="section-heading">How sign-out reaches this page</h2>
      <ul className="plain-list">
        <li>Sign out here: the BFF ends every session of yours, then the identity provider ends its own.</li>
        <li>Sign out in another app of the same identity provider: it tells the BFF (front-channel and back-channel logout).</li>
        <li>This page asks the BFF again whenever you come back to the tab, and tells its other tabs at once.</li>
      </ul>
    </section>
  );
}

function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
