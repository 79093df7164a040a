import type { ConfidentialClientApplication } from '@azure/msal-node';
import { OpenedEntries } from '../../server/auth/opened-entries';
import { describe, expect, it } from 'vitest';
import { accessTokens } from '../../server/auth/access-token';
import type { MsalClientFactory } from '../../server/auth/msal-client';
import { generateTokenCacheKey, TokenSealer } from '../../server/auth/token-encryption';
import { silentLogger } from '../../server/log';
import type { SessionUser } from '../../server/session/data';

const user: SessionUser = {
  homeAccountId: 'u1',
  issuer: 'https://idp',
  subject: 'u1',
  name: 'U',
  username: 'u',
  account: { environment: 'idp', tenantId: 't', localAccountId: 'u1', username: 'u' },
};

/** An MSAL stand-in that counts token acquisitions and lets the test decide when each ends. */
function fakeMsal() {
  const calls: ((token: string) => void)[] = [];
  const factory = (() =>
    ({
      acquireTokenSilent: () => new Promise((resolve) => calls.push((accessToken) => resolve({ accessToken }))),
    }) as unknown as ConfidentialClientApplication) as MsalClientFactory;
  return { factory, calls };
}

const noStore = {
  tokens: { get: async () => undefined, set: async () => {}, delete: async () => {}, deleteIf: async () => {}, setIf: async () => true },
  // Every lease granted: this tests the in-process single flight alone.
  leases: { lease: async () => 'lease', releaseLease: async () => {} },
  tombstones: { signedOutAt: async () => undefined },
  opened: new OpenedEntries(new TokenSealer([generateTokenCacheKey()]), { maxBytes: 0 }),
  clientId: 'bff',
};
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('parallel API calls of one user share one token acquisition', () => {
  it('shares it among calls that saw the same tombstone', async () => {
    const msal = fakeMsal();
    const source = accessTokens(msal.factory, silentLogger, noStore);
    const first = source(user, ['s'], { signedOutAt: 0 });
    const second = source(user, ['s'], { signedOutAt: 0 });
    await tick();
    expect(msal.calls).toHaveLength(1);
    msal.calls[0]!('token');
    expect(await Promise.all([first, second])).toEqual(['token', 'token']);
  });

  it('never hands a call made after a sign-out what an acquisition begun before it returns, nor that acquisition its own token', async () => {
    const msal = fakeMsal();
    // The user signed out (tombstone at 1000) while the first acquisition was at the IdP, and in again.
    const source = accessTokens(msal.factory, silentLogger, { ...noStore, tombstones: { signedOutAt: async () => 1000 } });
    const before = source(user, ['s'], { signedOutAt: 0 });
    // The new session's call sees the tombstone.
    const after = source(user, ['s'], { signedOutAt: 1000 });
    await tick();
    expect(msal.calls).toHaveLength(2);
    msal.calls[0]!('old');
    msal.calls[1]!('new');
    await expect(before).rejects.toMatchObject({ status: 401, code: 'unauthenticated' });
    expect(await after).toBe('new');
  });
});
