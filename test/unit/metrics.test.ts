import { AuthError, ServerError, type ConfidentialClientApplication } from '@azure/msal-node';
import { describe, expect, it } from 'vitest';
import { accessTokens } from '../../server/auth/access-token';
import type { MsalClientFactory } from '../../server/auth/msal-client';
import { OpenedEntries } from '../../server/auth/opened-entries';
import { generateTokenCacheKey, TokenSealer } from '../../server/auth/token-encryption';
import { StoreUnavailableError } from '../../server/errors';
import { silentLogger } from '../../server/log';
import { SignOutService } from '../../server/logout/sign-out';
import { Tombstones } from '../../server/logout/tombstones';
import { bearerTokenMatches } from '../../server/metrics/endpoint';
import { createMetrics, type Metrics } from '../../server/metrics/metrics';
import type { SessionUser } from '../../server/session/data';
import { createStores } from '../../server/stores';
import { meteredStores } from '../../server/stores/metered';

const user: SessionUser = {
  homeAccountId: 'u1',
  issuer: 'https://idp',
  subject: 'u1',
  name: 'U',
  username: 'u',
  account: { environment: 'idp', tenantId: 't', localAccountId: 'u1', username: 'u' },
};

/** The value of one series line of the exposition (`name{labels} value`), 0 when absent. */
async function valueOf(metrics: Metrics, series: string): Promise<number> {
  const { body } = await metrics.exposition();
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** An MSAL stand-in whose acquisitions the test ends, with a result or an error. */
function fakeMsal() {
  const calls: { resolve: (r: { accessToken: string; fromCache: boolean }) => void; reject: (err: unknown) => void }[] = [];
  const factory = (() =>
    ({
      acquireTokenSilent: () => new Promise((resolve, reject) => calls.push({ resolve, reject })),
    }) as unknown as ConfidentialClientApplication) as MsalClientFactory;
  return { factory, calls };
}

const cacheAccess = (metrics: Metrics, leases = { lease: async () => 'lease' as string | undefined, releaseLease: async () => {} }) => ({
  tokens: { get: async () => undefined, set: async () => {}, delete: async () => {}, deleteIf: async () => {}, setIf: async () => true },
  leases,
  tombstones: { signedOutAt: async () => undefined },
  opened: new OpenedEntries(new TokenSealer([generateTokenCacheKey()]), { maxBytes: 0 }),
  clientId: 'bff',
  metrics,
});
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('metrics: refresh grants and single-flight waits', () => {
  it('counts a call that joined another call of this instance as an in_process wait, and their one grant once', async () => {
    const metrics = createMetrics();
    const msal = fakeMsal();
    const source = accessTokens(msal.factory, silentLogger, cacheAccess(metrics));
    const calls = [1, 2, 3].map(() => source(user, ['s'], { signedOutAt: 0 }));
    await tick();
    msal.calls[0]!.resolve({ accessToken: 'token', fromCache: false });
    await Promise.all(calls);
    expect(await valueOf(metrics, 'bff_single_flight_waits_total{kind="in_process"}')).toBe(2);
    expect(await valueOf(metrics, 'bff_token_refreshes_total{outcome="ok"}')).toBe(1);
  });

  it("counts a call that waited for another instance's refresh lease once, however long it polled", async () => {
    const metrics = createMetrics();
    const msal = fakeMsal();
    let held = 3; // another instance holds the lease for three attempts
    const source = accessTokens(msal.factory, silentLogger, cacheAccess(metrics, { lease: async () => (held-- > 0 ? undefined : 'lease'), releaseLease: async () => {} }));
    const call = source(user, ['s'], { signedOutAt: 0 });
    while (msal.calls.length === 0) await tick();
    msal.calls[0]!.resolve({ accessToken: 'token', fromCache: true });
    expect(await call).toBe('token');
    expect(await valueOf(metrics, 'bff_single_flight_waits_total{kind="lease"}')).toBe(1);
    // MSAL answered from its cache: no grant took place.
    expect(await valueOf(metrics, 'bff_token_refreshes_total{outcome="ok"}')).toBe(0);
  });

  it('counts a failed grant by why it failed', async () => {
    const cases: [unknown, string][] = [
      [new ServerError('invalid_grant', 'cid', 'refresh token revoked'), 'invalid_grant'],
      [new ServerError('invalid_grant', 'cid', 'AADSTS65001: consent', 'consent_required', '65001'), 'consent_required'],
      [new AuthError('network_error', 'cid', 'unreachable'), 'upstream'],
    ];
    for (const [err, outcome] of cases) {
      const metrics = createMetrics();
      const msal = fakeMsal();
      const call = accessTokens(msal.factory, silentLogger, cacheAccess(metrics))(user, ['s'], { signedOutAt: 0 });
      while (msal.calls.length === 0) await tick();
      msal.calls[0]!.reject(err);
      await expect(call).rejects.toBeDefined();
      expect(await valueOf(metrics, `bff_token_refreshes_total{outcome="${outcome}"}`), outcome).toBe(1);
      expect(await valueOf(metrics, 'bff_token_refreshes_total{outcome="ok"}')).toBe(0);
    }
  });
});

describe('metrics: sign-outs', () => {
  const signOutWith = (metrics: Metrics, change: (stores: ReturnType<typeof createStores>) => ReturnType<typeof createStores>) => {
    const stores = change(createStores({}));
    return new SignOutService(stores, new Tombstones(stores.logout, 60_000, () => stores.now()), silentLogger, 60_000, undefined, metrics);
  };

  it('counts a sign-out whose tombstone no replica confirmed as unreplicated, one whose store failed otherwise as store_unavailable, and passes the error on', async () => {
    const metrics = createMetrics();
    const unconfirmed = signOutWith(metrics, (s) => ({ ...s, replicated: () => Promise.reject(new StoreUnavailableError(new Error('0 of 1 replicas confirmed'))) }));
    await expect(unconfirmed.signOut('u1', 'backchannel')).rejects.toBeInstanceOf(StoreUnavailableError);
    const failing = signOutWith(metrics, (s) => ({ ...s, tokens: { ...s.tokens, delete: () => Promise.reject(new StoreUnavailableError(new Error('down'))) } }));
    await expect(failing.signOut('u1', 'spa')).rejects.toBeInstanceOf(StoreUnavailableError);
    await signOutWith(metrics, (s) => s).signOut('u1', 'frontchannel');
    expect(await valueOf(metrics, 'bff_signouts_total{path="backchannel",outcome="unreplicated"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_signouts_total{path="spa",outcome="store_unavailable"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_signouts_total{path="frontchannel",outcome="ok"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_signouts_total{path="spa",outcome="ok"}')).toBe(0);
  });
});

describe('metrics: store calls', () => {
  it('counts every call by store and operation, and a failed one as an error, passing the same error on', async () => {
    const metrics = createMetrics();
    const memory = new Map<string, unknown>();
    const stores = meteredStores(createStores({}, { memory }), metrics);
    await stores.sessions.set('a', { createdAt: 1 });
    await stores.sessions.get('a');
    await stores.tokens.get('u1');
    await stores.lease('refresh:u1', 1000);
    await stores.now();
    const failure = new StoreUnavailableError(new Error('down'));
    const failing = meteredStores({ ...createStores({}), logout: { ...createStores({}).logout, get: () => Promise.reject(failure) } }, metrics);
    await expect(failing.logout.get('k')).rejects.toBe(failure);
    expect(await valueOf(metrics, 'bff_store_calls_total{store="sessions",operation="set"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_store_calls_total{store="sessions",operation="get"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_store_calls_total{store="tokens",operation="get"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_store_calls_total{store="leases",operation="lease"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_store_calls_total{store="clock",operation="now"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_store_errors_total{store="logout",operation="get"}')).toBe(1);
    expect(await valueOf(metrics, 'bff_store_errors_total{store="sessions",operation="get"}')).toBe(0);
  });

  it('leaves the stores as they are when metrics are off', () => {
    const stores = createStores({});
    expect(meteredStores(stores, { enabled: false, storeCall: () => {} })).toBe(stores);
  });
});

describe('metrics: registries and the bearer token', () => {
  it('gives each BFF instance a registry of its own: two in one process never share counts', async () => {
    const one = createMetrics();
    const two = createMetrics();
    one.sessionStarted();
    expect(await valueOf(one, 'bff_sessions_started_total')).toBe(1);
    expect(await valueOf(two, 'bff_sessions_started_total')).toBe(0);
  });

  it('starts the series of known labels at 0, so a first scrape shows them', async () => {
    const { body } = await createMetrics().exposition();
    expect(body).toContain('bff_signouts_total{path="backchannel",outcome="unreplicated"} 0');
    expect(body).toContain('bff_sessions_ended_total{reason="device_signout"} 0');
    expect(body).toContain('bff_token_refreshes_total{outcome="invalid_grant"} 0');
  });

  it('accepts exactly `Bearer <METRICS_TOKEN>` (the scheme in any case), nothing longer, shorter or else', () => {
    const token = 'metrics-token-0123456789abcdef-0123456789';
    expect(bearerTokenMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerTokenMatches(`bearer ${token}`, token)).toBe(true);
    for (const header of [undefined, '', token, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Basic ${token}`, `Bearer  `, `Bearer ${token} extra`]) {
      expect(bearerTokenMatches(header, token), String(header)).toBe(false);
    }
  });
});
