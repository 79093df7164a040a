import type { ReactNode } from 'react';
import type { RequestState } from '../lib/useRequest';

interface Props<T> {
  id: string;
  title: string;
  /** The BFF route the card shows, e.g. "GET /api/me". */
  source: string;
  state: RequestState<T>;
  idle: string;
  children: (data: T) => ReactNode;
}

/** A card for one BFF call's answer, with its idle, loading and error states announced politely. */
export function ResultCard<T>({ id, title, source, state, idle, children }: Props<T>) {
  const headingId = `${id}-heading`;
  return (
    <section className="card" aria-labelledby={headingId}>
      <header className="card-header">
        <h2 id={headingId}>{title}</h2>
        <code className="route">{source}</code>
      </header>
      <div className="card-body" aria-live="polite" aria-busy={state.status === 'loading'}>
        {state.status === 'idle' && <p className="muted">{idle}</p>}
        {state.status === 'loading' && (
          <p className="muted loading">Loading…</p>
        )}
        {state.status === 'failed' && (
          <p className="error" role="alert">
            {state.error.message} <span className="code">({state.error.code})</span>
          </p>
        )}
        {state.status === 'done' && children(state.data)}
      </div>
    </section>
  );
}
