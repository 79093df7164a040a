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
