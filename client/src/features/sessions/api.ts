import type { UserSessionList } from '../../../../shared/api';
import { bffFetch } from '../../bffFetch';

/** GET /auth/sessions: the user's BFF sessions, this one first; each named by a handle, never an id. */
export function fetchUserSessions(signal?: AbortSignal): Promise<UserSessionList> {
  return bffFetch<UserSessionList>('/auth/sessions', { signal });
}

/**
 * DELETE /auth/sessions/<handle>: ends another session of the user ("Sign out this device"),
 * at once; the IdP session and the user's other sessions stay. 404 `not_found` when it had ended
 * already; 409 `current_session` for this one (use the global sign-out instead).
 */
export function endUserSession(handle: string): Promise<void> {
  return bffFetch<void>(`/auth/sessions/${encodeURIComponent(handle)}`, { method: 'DELETE' });
}
