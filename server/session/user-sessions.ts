import type { UserSession } from '../../shared/api';
import type { Config } from '../config';
import { HttpError } from '../errors';
import type { Logger } from '../log';
import { noMetrics, type Metrics } from '../metrics/metrics';
import type { SignOutService } from '../logout/sign-out';
import type { Tombstones } from '../logout/tombstones';
import type { Store } from '../stores/store';
import type { SessionData } from './data';
import { SessionHandles } from './session-handles';

/** Who asks: the signed-in user, this request's session and the tombstone its check read. */
export interface Asker {
  homeAccountId: string;
  /** The id of the session the request came from (Sessions.currentId). */
  sessionId: string | undefined;
  /** This request's session as loaded (its lastSeen may be newer than the stored record's). */
  session: SessionData;
  /** The user's tombstone as the session check read it (0: none). */
  signedOutAt: number;
  requestId?: string;
}

/**
 * A user's own BFF sessions ("Your sessions"): listing them and ending one other than the
 * caller's. Only the user's own list (SignOutService.sessionsOf, keyed by the signed-in user) is
 * ever read, so no handle can reach another user's session. A session is named by its handle
 * (session-handles.ts), never by its id.
 */
export class UserSessions {
  private readonly handles: SessionHandles;

  constructor(
    private readonly config: Pick<Config, 'sessionKeys' | 'sessionIdleMs' | 'sessionAbsoluteMs'>,
    private readonly sessions: Store<SessionData>,
    private readonly signOut: SignOutService,
    private readonly tombstones: Tombstones,
    private readonly log: Logger,
    private readonly metrics: Pick<Metrics, 'sessionsEnded'> = noMetrics,
  ) {
    this.handles = new SessionHandles(config.sessionKeys);
  }

  /**
   * The user's live sessions: the caller's first, then by last seen, newest first. A listed
   * session whose record is gone, expired (idle or absolute), from before the user's last global
   * sign-out, or not the user's, is left out. One store round trip for the list, one for the
   * records (read in parallel; at most 50).
   */
  async list(asker: Asker): Promise<UserSession[]> {
    const refs = await this.signOut.sessionsOf(asker.homeAccountId);
    const ids = [...new Set(refs.map((r) => r.id))];
    if (asker.sessionId && !ids.includes(asker.sessionId)) ids.push(asker.sessionId);
    const records = await Promise.all(ids.map((id) => (id === asker.sessionId ? asker.session : this.sessions.get(id))));
    const now = Date.now();
    const listed: UserSession[] = [];
    ids.forEach((id, i) => {
      const record = records[i];
      if (!record || !this.alive(record, asker, now)) return;
      listed.push({
        handle: this.handles.of(id),
        device: record.device ?? 'Unknown device',
        createdAt: new Date(record.createdAt!).toISOString(),
        lastSeenAt: new Date(record.lastSeen ?? record.createdAt!).toISOString(),
        current: id === asker.sessionId,
      });
    });
    return listed.sort((a, b) => Number(b.current) - Number(a.current) || b.lastSeenAt.localeCompare(a.lastSeenAt));
  }

  /**
   * Ends the user's session named by `handle`, on every instance at once: the end marker first
   * (so a request of that session in flight undoes its own write-back, see Tombstones.endSession),
   * then the record (every request reads it from the shared store: nothing to invalidate per
   * instance), then its entry in the user's list. The user's tokens and IdP session are left:
   * the user's other sessions use them.
   * @throws HttpError 404 `not_found` when no session of this user has that handle (another
   * user's handle included); 409 `current_session` for the caller's own session (the normal
   * sign-out, POST /auth/logout, is the way to end it); StoreUnavailableError.
   */
  async end(asker: Asker, handle: string): Promise<void> {
    const notFound = () => new HttpError(404, 'not_found', 'You have no session with that handle.');
    if (!SessionHandles.wellFormed(handle)) throw notFound();
    const refs = await this.signOut.sessionsOf(asker.homeAccountId);
    const target = refs.find((r) => this.handles.names(handle, r.id));
    if (!target) throw notFound();
    if (target.id === asker.sessionId) {
      throw new HttpError(409, 'current_session', 'This is the session you are using. Sign out with "Sign out" (POST /auth/logout) instead.');
    }
    await this.tombstones.endSession(target.id);
    await this.sessions.delete(target.id);
    await this.signOut.forgetSession(asker.homeAccountId, target.id);
    this.metrics.sessionsEnded('device_signout');
    this.log.info('auth.session_ended', { requestId: asker.requestId, user: asker.homeAccountId, reason: 'device_signout' });
  }

  private alive(record: SessionData, asker: Asker, now: number): boolean {
    const { createdAt, signInStartedAt, user } = record;
    if (createdAt === undefined || signInStartedAt === undefined || user?.homeAccountId !== asker.homeAccountId) return false;
    if (signInStartedAt <= asker.signedOutAt) return false;
    const lastSeen = record.lastSeen ?? createdAt;
    return now - lastSeen <= this.config.sessionIdleMs && now - createdAt <= this.config.sessionAbsoluteMs;
  }
}
