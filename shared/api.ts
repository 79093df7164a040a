// The JSON the BFF returns to the SPA. Never a token: display claims only.

export interface SessionUser {
  name: string;
  username: string;
  email?: string;
}

export type SessionInfo =
  | { isAuthenticated: false }
  | { isAuthenticated: true; user: SessionUser; expiresAt: string };

export interface LogoutResponse {
  endSessionUrl: string;
}

/** Stable error codes: the SPA switches on these, never on messages. */
export const ErrorCodes = [
  'bad_request',
  'csrf_required',
  'cross_site_request',
  'unauthenticated',
  'reauthenticate',
  'login_state_missing',
  'login_state_mismatch',
  'login_expired',
  'login_failed',
  'idp_error',
  'invalid_path',
  'invalid_scope',
  'not_found',
  'method_not_allowed',
  'payload_too_large',
  'body_not_allowed',
  'upstream_unavailable',
  'upstream_timeout',
  'upstream_rejected_token',
  'store_unavailable',
  'invalid_logout_token',
  'invalid_issuer',
  'internal_error',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export interface Problem {
  error: ErrorCode;
  message: string;
  /**
   * With `reauthenticate` from /api/* when the API sent a claims challenge: a same-origin path
   * (`/auth/login?...`) that signs in again asking the IdP for those claims and comes back to
   * the route the SPA named in X-Return-To. Navigate the whole page there. Also when the API's
   * scopes were never granted (incremental consent): then the sign-in asks for them.
   */
  signInUrl?: string;
}
