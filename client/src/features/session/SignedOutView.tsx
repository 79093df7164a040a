import { useEffect, useId, useRef } from 'react';
import type { SignedOutReason } from './useSession';
import { END_SESSION_PATH } from './useSignOut';

const COPY: Record<SignedOutReason, { title: string; text: string; action: string }> = {
  welcome: {
    title: 'Sign in to see your todos',
    text: 'Sign in with your organisation account. Your tokens stay on the server: this page only ever holds a session cookie it cannot read.',
    action: 'Sign in',
  },
  signedOut: {
    title: 'You have signed out',
    text: 'Your session has ended here, at the identity provider and in every other app that signed you in with it.',
    action: 'Sign in again',
  },
  signInAgain: {
    title: 'Sign in again to continue',
    text: 'The service behind this page asks for a new sign-in, for example with a second factor. You come back here afterwards.',
    action: 'Sign in again',
  },
  ended: {
    title: 'You have been signed out',
    text: 'You signed out in another tab or another app, or your session ended. Sign in again to come back to this page.',
    action: 'Sign in again',
  },
};

/**
 * Signed out: one way forward, the BFF's sign-in, which comes back to the route the user is on.
 * A session that ended while the page was open takes the focus, so a screen reader says so.
 */
export function SignedOutView({ reason, detail, onSignIn }: { reason: SignedOutReason; detail?: string; onSignIn: () => void }) {
  const headingId = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  const copy = COPY[reason];

  useEffect(() => {
    if (reason === 'ended' || reason === 'signInAgain') heading.current?.focus();
  }, [reason]);

  return (
    <section className={`panel centered signed-out signed-out-${reason}`} aria-labelledby={headingId}>
      <span className="signed-out-mark" aria-hidden="true" />
      <h1 id={headingId} ref={heading} tabIndex={-1}>
        {copy.title}
      </h1>
      {detail && (
        <p className="notice" role="status">
          {detail}
        </p>
      )}
      <p className="muted">{copy.text}</p>
      <button type="button" className="button primary" onClick={onSignIn}>
        {copy.action}
      </button>
      {reason === 'ended' && (
        <p className="muted">
          Still signed in at the identity provider? <a href={END_SESSION_PATH}>Sign out there too</a>.
        </p>
      )}
    </section>
  );
}
