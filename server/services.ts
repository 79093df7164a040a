import type { AccessTokenSource } from './auth/access-token';
import type { MsalClientFactory } from './auth/msal-client';
import type { TokenSealer } from './auth/token-encryption';
import type { Config } from './config';
import type { IdentityProvider } from './identity/provider';
import type { Logger } from './log';
import type { Metrics } from './metrics/metrics';
import type { SignOutService } from './logout/sign-out';
import type { Tombstones } from './logout/tombstones';
import type { Stores } from './stores';

/** What routes are built from: handed in by createApp, never imported as singletons. */
export interface Services {
  config: Config;
  idp: IdentityProvider;
  msal: MsalClientFactory;
  accessToken: AccessTokenSource;
  stores: Stores;
  signOut: SignOutService;
  tombstones: Tombstones;
  /** Seals token cache entries at rest (TOKEN_CACHE_KEY). */
  sealer: TokenSealer;
  log: Logger;
  /** Prometheus counters and histograms (metrics/metrics.ts); noMetrics when no endpoint is configured. */
  metrics: Metrics;
}
