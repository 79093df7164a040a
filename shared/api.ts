// The JSON the BFF returns to the SPA. Never a token: display claims only.

export interface SessionUser {
  name: string;
  username: string;
  email?: string;
}

export type SessionInfo =
  /**
   * `silentSignIn`: true when the SPA may now try one silent sign-in (OIDC `prompt=none`): a
   * top-level navigation to /auth/login?prompt=none&returnTo=… Absent when switched off
   * (SILENT_SIGN_IN), tried already, or after a sign-out in this browser.
   */
  | { isAuthenticated: false; silentSignIn?: true }
  | { isAuthenticated: true; user: SessionUser; expiresAt: string };

export interface LogoutResponse {
  endSessionUrl: string;
}

/**
 * One of the user's BFF sessions, as GET /auth/sessions lists it. `handle` names it for
 * DELETE /auth/sessions/<handle> only: it is not the session id and is useless as a cookie.
 */
export interface UserSession {
  handle: string;
  /** From the browser's User-Agent at sign-in, e.g. "Chrome on Windows" (a fixed vocabulary). */
  device: string;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601, to within a minute (the session records it at most once a minute). */
  lastSeenAt: string;
  /** The session this request came from. */
  current: boolean;
}

/** GET /auth/sessions: the current session first, then the others, most recently seen first. */
export interface UserSessionList {
  sessions: UserSession[];
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
  'current_session',
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
