import { useId } from 'react';
import type { UserSession } from '../../../../shared/api';
import type { EndState } from './useUserSessions';

interface Props {
  sessions: UserSession[];
  ending: EndState;
  onEnd: (handle: string, device: string) => void;
}

/**
 * The user's sessions, one list item each: device, when it signed in and was last seen, "This
 * device" on the current one, and "Sign out this device" on every other. Each button's
 * accessible name includes its device, so a screen reader's list of buttons tells them apart.
 */
export function SessionList({ sessions, ending, onEnd }: Props) {
  const idPrefix = useId();
  return (
    <ul className="sessions">
      {sessions.map((session, i) => {
        const deviceId = `${idPrefix}-${i}`;
        const busy = ending.status === 'ending' && ending.handle === session.handle;
        const failed = ending.status === 'failed' && ending.handle === session.handle ? ending.message : undefined;
        return (
          <li key={session.handle} className={session.current ? 'session current' : 'session'}>
            <div className="session-about">
              <p className="session-device" id={deviceId}>
                {session.device}
                {session.current && <span className="badge">This device</span>}
              </p>
              <dl className="session-times">
                <div>
                  <dt>Signed in</dt>
                  <dd>
                    <time dateTime={session.createdAt}>{formatTime(session.createdAt)}</time>
                  </dd>
                </div>
                <div>
                  <dt>Last seen</dt>
                  <dd>{session.current ? 'Now' : <time dateTime={session.lastSeenAt}>{formatTime(session.lastSeenAt)}</time>}</dd>
                </div>
              </dl>
            </div>
            {!session.current && (
              <div className="session-action">
                <button type="button" className="button small" aria-describedby={deviceId} disabled={busy} aria-busy={busy} onClick={() => onEnd(session.handle, session.device)}>
                  {busy ? 'Signing out…' : 'Sign out this device'}
                </button>
              </div>
            )}
            {failed && (
              <p className="error session-error" role="alert">
                {failed}
              </p>
            )}
          </li>
        );
      })}
    </ul>
  );
}

function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
