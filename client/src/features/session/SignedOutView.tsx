import { useId } from 'react';

/** Signed out: one way forward, the BFF's sign-in. */
export function SignedOutView({ notice, onSignIn }: { notice?: string; onSignIn: () => void }) {
  const headingId = useId();
  return (
    <section className="panel centered" aria-labelledby={headingId}>
      <h1 id={headingId}>You are signed out</h1>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <p className="muted">
        Sign in with your organisation account. Your tokens stay on the server: this page only ever holds a session cookie it
        cannot read.
      </p>
      <button type="button" className="button primary" onClick={onSignIn}>
        Sign in
      </button>
    </section>
  );
}
