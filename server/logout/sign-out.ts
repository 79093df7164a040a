import { StoreUnavailableError } from '../errors';
import type { Logger } from '../log';
import { noMetrics, type Metrics, type SignOutOutcome } from '../metrics/metrics';
import type { SessionUser } from '../session/data';
import type { Stores } from '../stores';
import { userKey, userSlotTag } from '../stores/user-slot';
import type { RefreshTokenRevocation } from './revocation';
import type { Tombstones } from './tombstones';

export type SignOutPath = 'spa' | 'frontchannel' | 'backchannel';

/**
 * How long an IdP's logout call for a sid is remembered for a sign-in still under way with it
 * (ms): longer than a callback takes from the IdP's redirect to recording its sid (the code
 * redemption is bounded at 10 s). A front-channel call is unauthenticated, so this also bounds
 * what a flood of them can leave in the store.
 */
export const ENDED_SID_TTL_MS = 2 * 60_000;

export interface SignOutResult {
  homeAccountId: string;
  sessionsEnded: number;
}

/** An entry of the user's session list: the session id, and the IdP session it came from. */
export interface UserSessionRef {
  id: string;
  issuer: string;
  sid?: string;
}

/** The errors of a tombstone that did not reach its replicas, told apart from other store failures in the sign-out count. */
const unreplicated = new WeakSet<StoreUnavailableError>();

/**
 * Global sign-out of one user, the same for every path (DESIGN, "the invariant"):
 * tombstone first, then the token cache entry and every session we know of.
 * The bookkeeping it reads is written at sign-in by recordSignIn.
 */
export class SignOutService {
  constructor(
    private readonly stores: Stores,
    private readonly tombstones: Tombstones,
    private readonly log: Logger,
    private readonly ttlMs: number,
    /** RFC 7009 revocation of the user's refresh tokens after each sign-out (revocation.ts); none: no revocation. */
    private readonly revocation?: RefreshTokenRevocation,
    private readonly metrics: Pick<Metrics, 'signOut' | 'sessionsEnded'> = noMetrics,
  ) {}

  private sidKey = (issuer: string, sid: string) => `sid:${issuer} ${sid}`;
  private endedSidKey = (issuer: string, sid: string) => `ended-sid:${issuer} ${sid}`;
  private subKey = (issuer: string, sub: string) => `sub:${issuer} ${sub}`;
  private sessionsKey = (homeAccountId: string) => `sessions:${userKey(homeAccountId)}`;

  /** Sign-in bookkeeping: (iss, sid) and (iss, sub) lead to the user, the user to its sessions. */
  async recordSignIn(user: SessionUser, sessionId: string): Promise<void> {
    const { logout } = this.stores;
    const known = await this.sessionsOf(user.homeAccountId);
    const sessions: UserSessionRef[] = [...known.slice(-49), { id: sessionId, issuer: user.issuer, sid: user.sid }];
    await Promise.all([
      logout.set(this.sessionsKey(user.homeAccountId), sessions, this.ttlMs),
      logout.set(this.subKey(user.issuer, user.subject), user.homeAccountId, this.ttlMs),
      user.sid ? logout.set(this.sidKey(user.issuer, user.sid), user.homeAccountId, this.ttlMs) : undefined,
    ]);
    // A refresh-token revocation an earlier SPA sign-out still holds would end this sign-in's grant.
    this.revocation?.signedIn(user.homeAccountId);
  }

  /** The user's last global sign-out (ms), if any: every session created at or before it is dead. */
  signedOutAt(homeAccountId: string): Promise<number | undefined> {
    return this.tombstones.signedOutAt(homeAccountId);
  }

  /**
   * The IdP reports the end of its session (issuer, sid) (front- or back-channel), a sid not
   * recorded here: remembered for ENDED_SID_TTL_MS, and the caller looks it up once more, so a
   * sign-in whose callback was under way with that sid, and had not recorded it yet, still learns
   * of it (endedMeanwhile). Each side writes first and reads second, so on the shared store at
   * least one sees the other. A recorded sid needs no mark: its sign-out's tombstone ends any
   * sign-in that began before it.
   */
  async idpSessionEnded(issuer: string, sid: string, path: Exclude<SignOutPath, 'spa'>): Promise<void> {
    await this.stores.logout.set(this.endedSidKey(issuer, sid), path, ENDED_SID_TTL_MS);
  }

  /**
   * After recordSignIn: whether the IdP ended this sign-in's IdP session meanwhile (a logout call
   * for its sid that found nobody yet). The caller signs the user out (the path named) and refuses
   * the sign-in.
   */
  async endedMeanwhile(user: Pick<SessionUser, 'issuer' | 'sid'>): Promise<Exclude<SignOutPath, 'spa'> | undefined> {
    if (!user.sid) return undefined;
    const value = await this.stores.logout.get(this.endedSidKey(user.issuer, user.sid));
    return value === 'frontchannel' || value === 'backchannel' ? value : undefined;
  }

  async userBySid(issuer: string, sid: string): Promise<string | undefined> {
    const value = await this.stores.logout.get(this.sidKey(issuer, sid));
    return typeof value === 'string' ? value : undefined;
  }

  async userBySub(issuer: string, sub: string): Promise<string | undefined> {
    const value = await this.stores.logout.get(this.subKey(issuer, sub));
    return typeof value === 'string' ? value : undefined;
  }

  /** Whether any of the user's recorded sessions came from an ID token without a `sid`. */
  async hasSessionWithoutSid(homeAccountId: string): Promise<boolean> {
    return (await this.sessionsOf(homeAccountId)).some((s) => !s.sid);
  }

  /** Counted (bff_signouts_total) by path and outcome, whichever way signOutSteps ends. */
  async signOut(homeAccountId: string, path: SignOutPath, requestId?: string): Promise<SignOutResult> {
    let outcome: SignOutOutcome = 'error';
    try {
      const result = await this.signOutSteps(homeAccountId, path, requestId);
      outcome = 'ok';
      this.metrics.sessionsEnded('sign_out', result.sessionsEnded);
      return result;
    } catch (err) {
      if (err instanceof StoreUnavailableError) outcome = unreplicated.has(err) ? 'unreplicated' : 'store_unavailable';
      throw err;
    } finally {
      this.metrics.signOut(path, outcome);
    }
  }

  private async signOutSteps(homeAccountId: string, path: SignOutPath, requestId?: string): Promise<SignOutResult> {
    const { tokens, sessions, logout } = this.stores;
    // 1. The tombstone comes first: from here on no earlier session or token write survives.
    await this.tombstones.write(homeAccountId);
    // The refresh tokens to revoke, read alongside the replica wait (no extra round trip); a
    // failed read is logged and the sign-out goes on without them.
    const entry = this.revocation?.enabled ? this.entryToRevoke(homeAccountId, requestId) : undefined;
    // 2. Where Redis has replicas, nothing more happens until they have the tombstone (WAIT):
    //    replication is asynchronous, and a failover could otherwise lose it and bring every
    //    session back. Unconfirmed, the sign-out is not claimed (503) and nothing else is touched:
    //    the sid and sub lookups stay, so the caller's retry (the IdP's back-channel, the SPA's
    //    end-session round trip and the back-channel call it causes) finds the user and waits again.
    await this.tombstoneReplicated(homeAccountId, path, requestId);
    const sealedEntry = await entry;
    // 3. The user's whole token cache entry (MSAL's plugin never deletes a key, FINDINGS; there
    //    is no point in removing the account inside it first), and the list of the user's
    //    sessions, in one round trip.
    const [, known] = await Promise.all([tokens.delete(homeAccountId), this.sessionsOf(homeAccountId)]);
    // 4. Every session we know of, and the sid entries that led to them.
    const sidKeys = new Set(known.filter((s) => s.sid).map((s) => this.sidKey(s.issuer, s.sid!)));
    await Promise.all([
      ...known.map((s) => sessions.delete(s.id)),
      ...[...sidKeys].map((key) => logout.delete(key)),
      logout.delete(this.sessionsKey(homeAccountId)),
    ]);
    // The clean-up is not waited for: lost in a failover, it would leave records and tokens that
    // the (replicated) tombstone keeps from ever being used, until they expire.
    this.log.info('auth.signout', { requestId, user: homeAccountId, path, sessionsEnded: known.length });
    this.revocation?.signedOut({ homeAccountId, path, sealedEntry, sessions: known, requestId });
    return { homeAccountId, sessionsEnded: known.length };
  }

  /**
   * The IdP reported the end of a session (back- or front-channel) that no longer leads to a user
   * here, because an SPA-started sign-out already removed it: a refresh-token revocation held for
   * the IdP's confirmation (revocation.ts) is found by that sid, or by the subject, and done now.
   * Never throws and never waits for the revocation.
   */
  async idpEndedSession(issuer: string, ended: { sid?: string; sub?: string }, path: Exclude<SignOutPath, 'spa'>, requestId?: string): Promise<void> {
    const revocation = this.revocation;
    if (!revocation?.enabled) return;
    let user = ended.sid ? await revocation.userBySid(issuer, ended.sid) : undefined;
    if (!user && ended.sub) user = await this.userBySub(issuer, ended.sub).catch(() => undefined);
    if (user) revocation.idpSignedOut(user, path, requestId);
  }

  /** The user's sealed token cache entry, or undefined when the read fails (logged). */
  private entryToRevoke(homeAccountId: string, requestId: string | undefined): Promise<string | undefined> {
    return this.stores.tokens.get(homeAccountId).catch((err: unknown) => {
      this.log.warn('auth.revocation', { requestId, user: homeAccountId, outcome: 'skipped', reason: `the token cache entry could not be read: ${err instanceof Error ? err.message : 'the store failed'}` });
      return undefined;
    });
  }

  /** Stores.replicated on the user's slot, where the tombstone is; logs why it was not, and rethrows. */
  private async tombstoneReplicated(homeAccountId: string, path: SignOutPath, requestId: string | undefined): Promise<void> {
    try {
      await this.stores.replicated(userSlotTag(homeAccountId));
    } catch (err) {
      this.log.warn('auth.signout_unreplicated', { requestId, user: homeAccountId, path, reason: err instanceof Error && err.cause instanceof Error ? err.cause.message : 'the store failed' });
      if (err instanceof StoreUnavailableError) unreplicated.add(err);
      throw err;
    }
  }

  /**
   * Drops one session from the user's list ("Sign out this device": the caller ends the session
   * itself). A read-modify-write like recordSignIn's: a sign-in of the same user at the same
   * moment may lose its entry, which leaves that session off the sessions page; a global sign-out
   * still ends it, through the tombstone every request checks.
   */
  async forgetSession(homeAccountId: string, sessionId: string): Promise<void> {
    const known = await this.sessionsOf(homeAccountId);
    const left = known.filter((s) => s.id !== sessionId);
    if (left.length === known.length) return;
    await this.stores.logout.set(this.sessionsKey(homeAccountId), left, this.ttlMs);
  }

  /** The user's list of sessions (newest last, at most 50), as recordSignIn keeps it. */
  async sessionsOf(homeAccountId: string): Promise<UserSessionRef[]> {
    const value = await this.stores.logout.get(this.sessionsKey(homeAccountId));
    return Array.isArray(value) ? (value as UserSessionRef[]) : [];
  }
}
