import { useCallback, useEffect, useRef, useState } from 'react';
import { BffError } from '../bffFetch';

export type RequestState<T> =
  | { status: 'idle' }
  | { status: 'loading' }
  | { status: 'done'; data: T }
  | { status: 'failed'; error: BffError };

/**
 * One BFF call, started when the component mounts and again on `load()`. A newer call, or
 * unmounting, aborts the one in flight so a late answer never overwrites a newer one.
 */
export function useRequest<T>(fetcher: (signal: AbortSignal) => Promise<T>) {
  const [state, setState] = useState<RequestState<T>>({ status: 'loading' });
  const inFlight = useRef<AbortController | null>(null);

  const run = useCallback(
    (controller: AbortController) =>
      fetcher(controller.signal).then(
        (data) => {
          if (!controller.signal.aborted) setState({ status: 'done', data });
        },
        (err: unknown) => {
          if (!controller.signal.aborted) setState({ status: 'failed', error: asBffError(err) });
        },
      ),
    [fetcher],
  );

  const start = useCallback(() => {
    inFlight.current?.abort();
    const controller = new AbortController();
    inFlight.current = controller;
    return controller;
  }, []);

  useEffect(() => {
    const controller = start();
    void run(controller);
    return () => controller.abort();
  }, [run, start]);

  const load = useCallback(() => {
    setState({ status: 'loading' });
    return run(start());
  }, [run, start]);

  return { state, load };
}

function asBffError(err: unknown): BffError {
  return err instanceof BffError ? err : new BffError(0, 'unexpected_response', 'Something went wrong.');
}
