import type { RequestState } from '../../lib/useRequest';
import { ResultCard } from '../../components/ResultCard';
import type { Profile } from './api';

/** What the API says about the caller: it knows them only from the access token the BFF sent. */
export function ProfileCard({ state, onRetry }: { state: RequestState<Profile>; onRetry: () => void }) {
  return (
    <ResultCard id="profile" title="Profile" source="GET /api/me" state={state} onRetry={onRetry}>
      {(profile) => (
        <dl className="facts">
          <dt>Name</dt>
          <dd>{profile.name ?? '—'}</dd>
          <dt>Username</dt>
          <dd>{profile.preferred_username ?? '—'}</dd>
          <dt>Scope</dt>
          <dd className="mono">{profile.scope ?? '—'}</dd>
        </dl>
      )}
    </ResultCard>
  );
}
