import type { RequestState } from '../../lib/useRequest';
import { ResultCard } from '../../components/ResultCard';
import type { Profile } from './api';

export function ProfileCard({ state }: { state: RequestState<Profile> }) {
  return (
    <ResultCard id="profile" title="Profile" source="GET /api/me" state={state} idle="Call the API to see who it thinks you are.">
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
