import type { LogoutResponse, SessionInfo } from '../../../../shared/api';
import { bffFetch } from '../../bffFetch';

/** GET /auth/session: who is signed in (display claims only). */
export function fetchSession(signal?: AbortSignal): Promise<SessionInfo> {
  return bffFetch<SessionInfo>('/auth/session', { signal });
}

/** POST /auth/logout: ends the session here; the answer says where to end the IdP's. */
export function requestLogout(): Promise<LogoutResponse> {
  return bffFetch<LogoutResponse>('/auth/logout', { method: 'POST' });
}

/**
 * Sign-in is a top-level navigation: the BFF redirects to the IdP and back to `returnTo`.
 * `silent`: prompt=none, the IdP shows nothing and answers at once (silentSignIn.ts).
 */
export function loginUrl(returnTo: string, { silent = false }: { silent?: boolean } = {}): string {
  return `/auth/login?${new URLSearchParams({ returnTo, ...(silent ? { prompt: 'none' } : {}) })}`;
}
