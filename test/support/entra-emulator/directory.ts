import { randomBytes } from 'node:crypto';
import type { ReceivedAssertion } from './client-assertion';

/**
 * What the emulated tenant knows: its users, the app registrations, the APIs they expose, and
 * the state Entra keeps per browser (sessions), per sign-in (codes) and per grant (refresh tokens).
 */

/** A member of the tenant. Every password is "password"; this is test-only. */
export interface EntraUser {
  /** The object id: the same for every app, the `uid` half of MSAL's homeAccountId. */
  oid: string;
  /** What the login form takes (the UPN works too). */
  login: string;
  /** The UPN: `preferred_username`. */
  upn: string;
  name: string;
  password: string;
}

export const ENTRA_USERS: readonly EntraUser[] = [
  { oid: '2f0c8f5e-6a0b-4f2e-9d4a-1b7c3e5a9001', login: 'alice', upn: 'alice@contoso.example', name: 'Alice Example', password: 'password' },
  { oid: '8d3e1c7a-4b2f-4e6d-a1c9-5f0b2d4e6002', login: 'bob', upn: 'bob@contoso.example', name: 'Bob Example', password: 'password' },
];

/** An app registration, as the Authentication and Certificates & secrets blades hold it. */
export interface AppRegistration {
  clientId: string;
  /** A client secret ("Certificates & secrets"); an app may have a secret, a certificate, or both. */
  clientSecret?: string;
  /** An uploaded certificate, PEM: client assertions signed with its key authenticate the app. */
  certificate?: string;
  /** Web platform redirect URIs. Entra checks post_logout_redirect_uri against these too. */
  redirectUris: string[];
  /** The one "Front-channel logout URL" of the app. */
  frontchannelLogoutUrl?: string;
}

/** An API registration ("Expose an API"): its Application ID URI and delegated scope names. */
export interface ExposedApi {
  appIdUri: string;
  scopes: string[];
}

/** The emulator's sign-in session in one browser (Entra's ESTSAUTH cookie). */
export interface BrowserSession {
  cookie: string;
  /** The `sid` claim and the front-channel logout parameter: a GUID per session. */
  sid: string;
  oid: string;
  /** Apps signed in through this session: their front-channel URLs are called at sign-out. */
  clients: Set<string>;
}

export interface IssuedCode {
  clientId: string;
  redirectUri: string;
  scope: string;
  nonce?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  oid: string;
  sid: string;
  expiresAt: number;
  redeemed: boolean;
  /** Authentication contexts the authorize request's claims asked for (granted at once). */
  acrs: string[];
}

/** What a refresh token stands for. Entra never revokes one when a session ends. */
export interface RefreshGrant {
  clientId: string;
  oid: string;
  sid: string;
  /** Kept from the sign-in: access tokens refreshed from this grant carry them too. */
  acrs: string[];
}

/** A token request as received: its grant type and `claims` parameter (no secrets). */
export interface TokenRequestRecord {
  grantType?: string;
  claims?: string;
}

export class Directory {
  readonly apps = new Map<string, AppRegistration>();
  /** Keyed by cookie value. */
  readonly sessions = new Map<string, BrowserSession>();
  readonly codes = new Map<string, IssuedCode>();
  readonly refreshTokens = new Map<string, RefreshGrant>();
  /** Authorization requests waiting for the login form, keyed by the form's `ctx` field. */
  readonly pendingLogins = new Map<string, URLSearchParams>();
  /** Every authorize request's parameters, in order (tests check what the app asked for). */
  readonly authorizeRequests: URLSearchParams[] = [];
  readonly tokenRequests: TokenRequestRecord[] = [];
  /** Every client assertion that authenticated an app, decoded, in order. */
  readonly clientAssertions: ReceivedAssertion[] = [];
  /** `jti`s of accepted client assertions until their `exp` (seconds): a second use is refused. */
  readonly assertionJtis = new Map<string, number>();
  /**
   * Delegated consent per user and app (`<clientId> <oid>`): the scopes (`<Application ID
   * URI>/<name>`, Graph's as https://graph.microsoft.com/<name>) the user agreed to in a
   * sign-in. As at Entra, it outlives sessions, and a token for any other scope is refused.
   */
  readonly consents = new Map<string, Set<string>>();

  constructor(
    readonly tenantId: string,
    readonly apis: readonly ExposedApi[],
    readonly users: readonly EntraUser[] = ENTRA_USERS,
  ) {}

  userByOid(oid: string): EntraUser | undefined {
    return this.users.find((u) => u.oid === oid);
  }

  checkCredentials(login: string, password: string): EntraUser | undefined {
    const name = login.trim().toLowerCase();
    const user = this.users.find((u) => u.login === name || u.upn === name);
    return user && user.password === password ? user : undefined;
  }

  startSession(oid: string, sid: string): BrowserSession {
    const session: BrowserSession = { cookie: opaque(32), sid, oid, clients: new Set() };
    this.sessions.set(session.cookie, session);
    return session;
  }

  /** Records consent to `scopes` (authorize request values; OIDC scopes ignored), as the consent prompt would. */
  consent(clientId: string, oid: string, scopes: Iterable<string>): void {
    const key = `${clientId} ${oid}`;
    const granted = this.consents.get(key) ?? new Set<string>();
    for (const s of scopes) if (!OIDC_SCOPES.has(s)) granted.add(qualifiedScope(s));
    this.consents.set(key, granted);
  }

  /** The requested scopes (as in a token request) the user has not consented to for this app. */
  unconsented(clientId: string, oid: string, scopes: Iterable<string>): string[] {
    const granted = this.consents.get(`${clientId} ${oid}`) ?? new Set<string>();
    return [...scopes].filter((s) => !OIDC_SCOPES.has(s) && !s.endsWith('/.default') && !granted.has(qualifiedScope(s)));
  }

  endSession(session: BrowserSession): void {
    this.sessions.delete(session.cookie);
  }
}

export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
/** Microsoft Graph's Application ID URI: a bare scope name (User.Read) is Graph's. */
export const GRAPH_APP_ID_URI = 'https://graph.microsoft.com';
const qualifiedScope = (scope: string) => (scope.includes('/') ? scope : `${GRAPH_APP_ID_URI}/${scope}`);

/** A random opaque value, base64url: codes, refresh tokens, cookies. */
export const opaque = (bytes: number) => randomBytes(bytes).toString('base64url');
