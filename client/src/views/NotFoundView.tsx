import { useId } from 'react';
import { Link } from '../lib/router';

export function NotFoundView() {
  const headingId = useId();
  return (
    <section className="panel centered" aria-labelledby={headingId}>
      <h1 id={headingId}>Page not found</h1>
      <p className="muted">There is nothing at this address.</p>
      <Link to="/" className="button primary">
        Go to your todos
      </Link>
    </section>
  );
}
