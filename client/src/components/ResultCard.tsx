import type { ReactNode } from 'react';
import type { RequestState } from '../lib/useRequest';

interface Props<T> {
  id: string;
  title: string;
  /** The BFF route the card shows, e.g. "GET /api/me". */
  source: string;
  state: RequestState<T>;
  onRetry: () => void;
  children: (data: T) => ReactNode;
}

/** A card for one BFF call's answer, with its loading and error states announced politely. */
export function ResultCard<T>({ id, title, source, state, onRetry, children }: Props<T>) {
  const headingId = `${id}-heading`;
  const loading = state.status === 'loading' || state.status === 'idle';
  return (
    <section className="card" aria-labelledby={headingId}>
      <header className="card-header">
        <h2 id={headingId}>{title}</h2>
        <code className="route">{source}</code>
      </header>
      <div className="card-body" aria-live="polite" aria-busy={loading}>
        {loading && (
          <div className="skeleton" role="status">
            <span className="visually-hidden">Loading {title.toLowerCase()}…</span>
            <span className="skeleton-line" aria-hidden="true" />
            <span className="skeleton-line short" aria-hidden="true" />
            <span className="skeleton-line" aria-hidden="true" />
          </div>
        )}
        {state.status === 'failed' && (
          <div className="card-error">
            <p className="error" role="alert">
              {state.error.message} <span className="code">({state.error.code})</span>
            </p>
            <button type="button" className="button small" onClick={onRetry}>
              Try again
            </button>
          </div>
        )}
        {state.status === 'done' && children(state.data)}
      </div>
    </section>
  );
}
