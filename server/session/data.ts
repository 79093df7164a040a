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

export interface SessionData {
  /** When the session was created (ms, this instance's clock): idle and absolute lifetimes. */
  createdAt?: number;
  lastSeen?: number;
  /**
   * When the sign-in that made this session began, before its code was redeemed (ms, the shared
   * store's clock, Stores.now). The session is dead once the user's tombstone is at or after it.
   */
  signInStartedAt?: number;
  user?: SessionUser;
  /** The browser as the sessions page names it ("Chrome on Windows", device-label.ts), from sign-in. */
  device?: string;
}
