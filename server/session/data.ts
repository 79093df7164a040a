/** What a session holds: who is signed in and the IdP session, never a token. */
export interface SessionUser {
  homeAccountId: string;
  issuer: string;
  subject: string;
  /** The IdP session id (`sid` claim), the key of front-channel and back-channel logout. */
  sid?: string;
  name: string;
  username: string;
  email?: string;
  /**
   * MSAL's account for this user, its non-secret fields only: enough for acquireTokenSilent, so
   * an API call reads the user's token cache entry once instead of twice.
   */
  account: { environment: string; tenantId: string; localAccountId: string; username: string };
  /** The ID token's `login_hint` claim (Entra), for the end-session request's logout_hint. */
  loginHint?: string;
}

/** A sign-in in progress, keyed by its `state`: PKCE verifier and nonce stay on the server. */
export interface PendingLogin {
  nonce: string;
  verifier: string;
  returnTo: string;
  createdAt: number;
}

export interface SessionData {
  createdAt?: number;
  lastSeen?: number;
  user?: SessionUser;
  logins?: Record<string, PendingLogin>;
}
