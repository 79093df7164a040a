import { BffError } from '../../bffFetch';

/** Where a sign-out goes next: the IdP's end-session URL (with this session's hint) or the BFF's route without one. */
export type SignOutOutcome = { go: string } | { failed: string };

/** A sign-out answered 503 (the store could not confirm it) is tried again this many times, a second apart. */
export const SIGN_OUT_ATTEMPTS = 5;
export const SIGN_OUT_RETRY_MS = 1000;

/**
 * Runs the BFF sign-out until it is confirmed or settled: a 503 (the store, or its replicas, did
 * not confirm it; the sign-out may be half done) is retried; a 401 means the BFF session has
 * ended (by this very sign-out, or before), and the user still asked to sign out: the IdP session
 * is ended through the BFF's end-session route, whose back-channel call completes what a 503 left.
 * `request` is POST /auth/logout; `endSessionPath` the route without a hint.
 */
export async function signOutWithRetries(
  request: () => Promise<{ endSessionUrl: string }>,
  endSessionPath: string,
  wait: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<SignOutOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { endSessionUrl } = await request();
      return { go: endSessionUrl };
    } catch (err) {
      if (err instanceof BffError && err.status === 401) return { go: endSessionPath };
      if (err instanceof BffError && err.status === 503 && attempt < SIGN_OUT_ATTEMPTS) {
        await wait(SIGN_OUT_RETRY_MS);
        continue;
      }
      return { failed: err instanceof BffError ? err.message : 'Sign-out could not be completed. Try again.' };
    }
  }
}
