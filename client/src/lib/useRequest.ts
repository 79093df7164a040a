import { useCallback, useEffect, useRef, useState } from 'react';
import { BffError } from '../bffFetch';

export type RequestState<T> =
  | { status: 'idle' }
  | { status: 'loading' }
  | { status: 'done'; data: T }
  | { status: 'failed'; error: BffError };

/**
 * A BFF call started on demand. A newer call, or unmounting, aborts the one in flight so a late
 * answer never overwrites a newer one.
 */
export function useRequest<T>(fetcher: (signal: AbortSignal) => Promise<T>) {
  const [state, setState] = useState<RequestState<T>>({ status: 'idle' });
  const inFlight = useRef<AbortController | null>(null);

  useEffect(() => () => inFlight.current?.abort(), []);

  const load = useCallback(async () => {
    inFlight.current?.abort();
    const controller = new AbortController();
    inFlight.current = controller;
    setState({ status: 'loading' });
    try {
      const data = await fetcher(controller.signal);
      if (!controller.signal.aborted) setState({ status: 'done', data });
    } catch (err) {
      if (controller.signal.aborted) return;
      setState({ status: 'failed', error: err instanceof BffError ? err : new BffError(0, 'unexpected_response', 'Something went wrong.') });
    }
  }, [fetcher]);

  return { state, load };
}
