import { bffFetch } from '../../bffFetch';

/** What the sample API's GET /me answers: the caller's claims from the access token. */
export interface Profile {
  sub?: string;
  name?: string;
  preferred_username?: string;
  scope?: string;
}

/** GET /api/me through the BFF, which adds the access token on the server side. */
export function fetchProfile(signal?: AbortSignal): Promise<Profile> {
  return bffFetch<Profile>('/api/me', { signal });
}
