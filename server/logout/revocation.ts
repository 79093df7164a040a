import { randomBytes } from 'node:crypto';
import { refreshTokensOf } from '../auth/token-cache';
import type { TokenSealer } from '../auth/token-encryption';
import type { Outbound } from '../http/outbound';
import { clientAuthentication } from '../identity/client-credential';
import type { IdentityProvider } from '../identity/provider';
import type { Logger } from '../log';
import type { Store } from '../stores/store';
import { userKey } from '../stores/user-slot';
import type { SignOutPath } from './sign-out';

/** Waits between tries of one revocation (ms): 6 tries over about 3.5 minutes. */
export const REVOCATION_RETRY_DELAYS_MS: readonly number[] = [1000, 5000, 15_000, 60_000, 120_000];
/** How long a pending revocation is kept after its deadline, for a late confirmation (ms). */
const PENDING_GRACE_MS = 10 * 60_000;
/** How long a taken pending entry is marked before its taker removes it (ms). */
const TAKEN_TTL_MS = 60_000;
const TAKEN = 'taken:';

export interface RevocationOptions {
  /**
   * How long a sign-out started in the SPA waits for the IdP to confirm its own end of session
   * (its back- or front-channel call) before revoking anyway (ms): a bit more than the
   * end-session ticket lives, so an SPA that never follows the redirect is covered too.
   */
  deadlineMs: number;
  retryDelaysMs?: readonly number[];
  /** Bound of one request to the revocation endpoint (ms). */
  timeoutMs?: number;
}

/** What a global sign-out hands over: the user's token cache entry as it was read before its deletion. */
export interface SignedOut {
  homeAccountId: string;
  path: SignOutPath;
  /** The sealed token cache entry (TokenSealer, bound to homeAccountId), or undefined. */
  sealedEntry: string | undefined;
  /** The IdP sessions the user had here: an SPA sign-out is confirmed by a logout call for one of them. */
  sessions: { issuer: string; sid?: string }[];
  requestId?: string;
}

type Outcome = { kind: 'revoked' } | { kind: 'refused'; reason: string } | { kind: 'failed'; reason: string };

/**
 * RFC 7009 refresh-token revocation at global sign-out, where the IdP publishes a
 * `revocation_endpoint` (Entra publishes none: then nothing is ever attempted).
 *
 * When the IdP reported the sign-out (back-channel, front-channel), its session has ended:
 * the tokens are revoked at once. When the SPA started it, the IdP's end session is still to come,
 * and revoking first would end the IdP session without its logout fan-out to other apps
 * (keycloak #34234, FINDINGS): the refresh tokens are kept, sealed (TokenSealer, bound to the
 * user), in the logout store (`revoke:{tag}<homeAccountId>`), and revoked when the IdP's logout
 * call for one of the user's sessions arrives on any instance, or at `deadlineMs` on the instance
 * that signed the user out. Whoever revokes first takes the entry by a compare-and-set
 * (Store.setIf), so exactly one instance revokes.
 *
 * Nothing here fails or delays a sign-out: every step runs after it, and failures are logged
 * (`auth.revocation`, with the reason, never the token). Network errors, 429 and 5xx are retried
 * (REVOCATION_RETRY_DELAYS_MS); 200 is revoked, also for a token the IdP no longer knows (§2.2);
 * any other answer (400 unsupported_token_type, 401 invalid_client, …) is logged and not retried.
 *
 * Limitation: a pending revocation whose instance stops before the deadline, and that the IdP
 * never confirms, is not revoked; it expires from the store.
 */
export class RefreshTokenRevocation {
  private closed = false;
  private readonly aborted = new AbortController();
  /** Sleeps and deadlines, each with the function that ends it early (close()). */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly deadlines = new Map<string, NodeJS.Timeout>();
  private readonly retryDelaysMs: readonly number[];

  constructor(
    private readonly idp: Pick<IdentityProvider, 'revocationEndpoint'> & Parameters<typeof clientAuthentication>[0],
    private readonly outbound: Pick<Outbound, 'request'>,
    /** The logout store: pending revocations and the sid lookups that lead to them. */
    private readonly store: Store<unknown>,
    private readonly sealer: TokenSealer,
    private readonly log: Logger,
    private readonly options: RevocationOptions,
  ) {
    this.retryDelaysMs = options.retryDelaysMs ?? REVOCATION_RETRY_DELAYS_MS;
  }

  /** Whether sign-outs revoke: the IdP has a revocation endpoint, and we are not shutting down. */
  get enabled(): boolean {
    return this.idp.revocationEndpoint !== undefined && !this.closed;
  }

  /** After a global sign-out (SignOutService): revoke now, or hold until the IdP ends its session. Never throws. */
  signedOut(event: SignedOut): void {
    if (!this.enabled) return;
    const { homeAccountId, path, requestId } = event;
    const tokens = this.tokensOf(event);
    if (path === 'spa') {
      if (tokens.length > 0) void this.hold(homeAccountId, tokens, event.sessions, requestId);
      return;
    }
    // The IdP has ended its session: these tokens, and any an earlier SPA sign-out left waiting.
    for (const token of tokens) void this.revoke(token, homeAccountId, path, requestId);
    void this.takePending(homeAccountId, path, requestId);
  }

  /** The user whose SPA sign-out waits for the IdP's logout call for (issuer, sid). Never throws. */
  async userBySid(issuer: string, sid: string): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    try {
      const value = await this.store.get(sidKey(issuer, sid));
      return typeof value === 'string' ? value : undefined;
    } catch (err) {
      this.log.warn('auth.revocation', { user: undefined, outcome: 'lookup_failed', reason: reasonOf(err) });
      return undefined;
    }
  }

  /** The IdP reported the end of a session of a user already signed out here: revoke what waits. Never throws. */
  idpSignedOut(homeAccountId: string, path: Exclude<SignOutPath, 'spa'>, requestId?: string): void {
    if (this.enabled) void this.takePending(homeAccountId, path, requestId);
  }

  /**
   * The user signed in again (SignOutService.recordSignIn): what an earlier SPA sign-out still
   * holds for the IdP's confirmation is dropped, not revoked. That sign-in went through an IdP
   * session the sign-out did not end (its end-session URL not followed yet), and at providers
   * where revoking one refresh token ends its whole grant or IdP session (oidc-provider, Keycloak)
   * the new session shares it: revoking would sign the user out again, later, for nothing she did
   * (outside review of issue 15). The BFF keeps no copy of the dropped tokens. Never throws.
   */
  signedIn(homeAccountId: string, requestId?: string): void {
    if (this.enabled) void this.dropPending(homeAccountId, requestId);
  }

  /** Stops the deadlines and retries; a revocation request under way is aborted. */
  async close(): Promise<void> {
    this.closed = true;
    this.aborted.abort();
    for (const [timer, end] of this.timers) {
      clearTimeout(timer);
      end();
    }
    this.timers.clear();
    for (const timer of this.deadlines.values()) clearTimeout(timer);
    this.deadlines.clear();
  }

  private tokensOf({ sealedEntry, homeAccountId, requestId }: SignedOut): string[] {
    if (!sealedEntry) return [];
    try {
      return refreshTokensOf(this.sealer.open(sealedEntry, homeAccountId));
    } catch (err) {
      this.log.warn('auth.revocation', { requestId, user: homeAccountId, outcome: 'skipped', reason: `the token cache entry did not open: ${reasonOf(err)}` });
      return [];
    }
  }

  /**
   * Keeps the tokens for the IdP's confirmation, merged with any an earlier sign-out left (a
   * compare-and-set, so two sign-outs at once both count); the sid lookups lead its logout call here.
   */
  private async hold(homeAccountId: string, tokens: string[], sessions: SignedOut['sessions'], requestId?: string): Promise<void> {
    const key = pendingKey(homeAccountId);
    const ttlMs = this.options.deadlineMs + PENDING_GRACE_MS;
    try {
      let held = false;
      for (let attempt = 0; attempt < 3 && !held; attempt++) {
        const current = await this.store.get(key);
        const earlier = typeof current === 'string' && !current.startsWith(TAKEN) ? this.openPending(current, homeAccountId) : [];
        const value = this.sealer.seal(JSON.stringify([...new Set([...earlier, ...tokens])]), pendingBinding(homeAccountId));
        held = await this.store.setIf(key, typeof current === 'string' ? current : undefined, value, ttlMs);
      }
      if (!held) throw new Error('the pending entry kept changing');
      await Promise.all(sessions.filter((s) => s.sid).map((s) => this.store.set(sidKey(s.issuer, s.sid!), homeAccountId, ttlMs)));
      this.log.info('auth.revocation', { requestId, user: homeAccountId, outcome: 'pending', tokens: tokens.length });
      this.startDeadline(homeAccountId, () => void this.takePending(homeAccountId, 'deadline'));
    } catch (err) {
      // Not shared: no other instance can take them, but this one still revokes at the deadline.
      this.log.warn('auth.revocation', { requestId, user: homeAccountId, outcome: 'pending_here_only', reason: reasonOf(err) });
      this.startDeadline(homeAccountId, () => tokens.forEach((t) => void this.revoke(t, homeAccountId, 'deadline')));
    }
  }

  private startDeadline(homeAccountId: string, revoke: () => void): void {
    clearTimeout(this.deadlines.get(homeAccountId));
    const timer = setTimeout(() => {
      this.deadlines.delete(homeAccountId);
      revoke();
    }, this.options.deadlineMs);
    timer.unref();
    this.deadlines.set(homeAccountId, timer);
  }

  /** Takes the user's pending tokens (once across every instance: compare-and-set to a marker), and revokes them. */
  private async takePending(homeAccountId: string, trigger: string, requestId?: string): Promise<void> {
    const key = pendingKey(homeAccountId);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = await this.store.get(key);
        if (typeof current !== 'string' || current.startsWith(TAKEN)) return;
        const marker = `${TAKEN}${randomBytes(12).toString('base64url')}`;
        // Lost: another instance took it, or a new sign-out merged more tokens in; look again.
        if (!(await this.store.setIf(key, current, marker, TAKEN_TTL_MS))) continue;
        clearTimeout(this.deadlines.get(homeAccountId));
        this.deadlines.delete(homeAccountId);
        const tokens = this.openPending(current, homeAccountId);
        await Promise.all(tokens.map((t) => this.revoke(t, homeAccountId, trigger, requestId)));
        await this.store.deleteIf(key, marker);
        return;
      }
    } catch (err) {
      this.log.warn('auth.revocation', { requestId, user: homeAccountId, trigger, outcome: 'take_failed', reason: reasonOf(err) });
    }
  }

  /** Removes the user's held tokens unrevoked, unless an instance is revoking them already. */
  private async dropPending(homeAccountId: string, requestId?: string): Promise<void> {
    clearTimeout(this.deadlines.get(homeAccountId));
    this.deadlines.delete(homeAccountId);
    const key = pendingKey(homeAccountId);
    try {
      const current = await this.store.get(key);
      if (typeof current !== 'string' || current.startsWith(TAKEN)) return;
      await this.store.deleteIf(key, current);
      this.log.info('auth.revocation', { requestId, user: homeAccountId, outcome: 'dropped', reason: 'signed in again before the IdP ended its session' });
    } catch (err) {
      this.log.warn('auth.revocation', { requestId, user: homeAccountId, outcome: 'drop_failed', reason: reasonOf(err) });
    }
  }

  private openPending(sealed: string, homeAccountId: string): string[] {
    try {
      const tokens: unknown = JSON.parse(this.sealer.open(sealed, pendingBinding(homeAccountId)));
      return Array.isArray(tokens) ? tokens.filter((t): t is string => typeof t === 'string') : [];
    } catch {
      return []; // sealed with a key since removed: nothing we can revoke
    }
  }

  /** One token, tried until revoked, refused, or the retries are spent; logs the outcome. */
  private async revoke(token: string, homeAccountId: string, trigger: string, requestId?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(token);
      const fields = { requestId, user: homeAccountId, trigger, attempts: attempt };
      if (outcome.kind === 'revoked') return this.log.info('auth.revocation', { ...fields, outcome: 'revoked' });
      if (outcome.kind === 'refused') return this.log.warn('auth.revocation', { ...fields, outcome: 'refused', reason: outcome.reason });
      const delay = this.retryDelaysMs[attempt - 1];
      if (delay === undefined || this.closed) return this.log.error('auth.revocation', { ...fields, outcome: 'failed', reason: outcome.reason });
      this.log.warn('auth.revocation', { ...fields, outcome: 'retrying', reason: outcome.reason, retryInMs: delay });
      await this.sleep(delay);
    }
  }

  /** RFC 7009 §2.1: POST token and token_type_hint, with the client's authentication. */
  private async attempt(token: string): Promise<Outcome> {
    const endpoint = this.idp.revocationEndpoint;
    if (!endpoint || this.closed) return { kind: 'failed', reason: 'shutting down' };
    try {
      const auth = await clientAuthentication(this.idp, endpoint);
      const body = new URLSearchParams({ token, token_type_hint: 'refresh_token', ...auth.fields }).toString();
      const res = await this.outbound.request(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)), accept: 'application/json', ...auth.headers },
        body,
        timeoutMs: this.options.timeoutMs ?? 10_000,
        signal: this.aborted.signal,
      });
      if (res.status === 200) return { kind: 'revoked' };
      const reason = `HTTP ${res.status}${errorCode(res.body)}`;
      // §2.2.1: 503 means try later; so do other server errors and rate limits.
      return res.status >= 500 || res.status === 429 ? { kind: 'failed', reason } : { kind: 'refused', reason };
    } catch (err) {
      return { kind: 'failed', reason: reasonOf(err) };
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      this.timers.set(timer, resolve);
    });
  }
}

const pendingKey = (homeAccountId: string) => `revoke:${userKey(homeAccountId)}`;
const pendingBinding = (homeAccountId: string) => `revoke:${homeAccountId}`;
const sidKey = (issuer: string, sid: string) => `revoke-sid:${issuer} ${sid}`;

/** The `error` code of an RFC 6749 §5.2 error body, if it is one (never anything else of the body). */
function errorCode(body: string): string {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    return typeof error === 'string' && /^[\x20-\x7e]{1,64}$/.test(error) ? ` ${error}` : '';
  } catch {
    return '';
  }
}

function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  return err.cause instanceof Error ? err.cause.message : err.message;
}
