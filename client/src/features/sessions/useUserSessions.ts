import { useCallback, useState } from 'react';
import { BffError } from '../../bffFetch';
import { useRequest } from '../../lib/useRequest';
import { endUserSession, fetchUserSessions } from './api';

/** Where "Sign out this device" stands, for the one session it was asked for. */
export type EndState = { status: 'idle' } | { status: 'ending'; handle: string } | { status: 'failed'; handle: string; message: string } | { status: 'ended'; device: string };

/**
 * The sessions list and "Sign out this device". After an end (or a 404: it had ended already)
 * the list is fetched again, so the page shows what the BFF holds, not what it guessed.
 */
export function useUserSessions() {
  const { state, load } = useRequest(fetchUserSessions);
  const [ending, setEnding] = useState<EndState>({ status: 'idle' });

  const end = useCallback(
    async (handle: string, device: string) => {
      setEnding({ status: 'ending', handle });
      try {
        await endUserSession(handle);
      } catch (err) {
        if (!(err instanceof BffError && err.code === 'not_found')) {
          setEnding({ status: 'failed', handle, message: err instanceof BffError ? err.message : 'That device could not be signed out. Try again.' });
          return;
        }
      }
      setEnding({ status: 'ended', device });
      await load();
    },
    [load],
  );

  return { state, reload: load, ending, end };
}
