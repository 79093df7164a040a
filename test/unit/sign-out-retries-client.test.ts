import { describe, expect, it } from 'vitest';
import { BffError } from '../../client/src/bffFetch';
import { SIGN_OUT_ATTEMPTS, signOutWithRetries } from '../../client/src/features/session/signOutAttempts';

const unavailable = () => new BffError(503, 'store_unavailable', 'The session store is unavailable; try again shortly.');
const noWait = async () => {};

describe('the SPA sign-out', () => {
  it('goes to the end-session URL the BFF answers', async () => {
    expect(await signOutWithRetries(async () => ({ endSessionUrl: 'http://bff/auth/end-session?t=x' }), '/auth/end-session', noWait)).toEqual({ go: 'http://bff/auth/end-session?t=x' });
  });

  it('tries a 503 again, and on the 401 that follows (its session already refused) ends the IdP session through the route without a hint', async () => {
    const answers = [unavailable(), unavailable(), new BffError(401, 'unauthenticated', 'Sign in first.')];
    const waits: number[] = [];
    const outcome = await signOutWithRetries(
      async () => {
        throw answers.shift();
      },
      '/auth/end-session',
      async (ms) => void waits.push(ms),
    );
    expect(outcome).toEqual({ go: '/auth/end-session' });
    expect(waits).toEqual([1000, 1000]);
  });

  it(`gives up after ${SIGN_OUT_ATTEMPTS} answers of 503, and says so`, async () => {
    let calls = 0;
    const outcome = await signOutWithRetries(
      async () => {
        calls++;
        throw unavailable();
      },
      '/auth/end-session',
      noWait,
    );
    expect(calls).toBe(SIGN_OUT_ATTEMPTS);
    expect(outcome).toEqual({ failed: 'The session store is unavailable; try again shortly.' });
  });

  it('does not retry another error', async () => {
    let calls = 0;
    const outcome = await signOutWithRetries(
      async () => {
        calls++;
        throw new BffError(403, 'csrf_required', 'The X-CSRF: 1 header is required.');
      },
      '/auth/end-session',
      noWait,
    );
    expect(calls).toBe(1);
    expect(outcome).toEqual({ failed: 'The X-CSRF: 1 header is required.' });
  });
});
