import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import type { Outbound } from '../http/outbound';
import type { IdentityProvider } from '../identity/provider';
import type { Tombstones } from '../logout/tombstones';
import type { Store } from '../stores/store';
import { userCachePlugin } from './token-cache';
import type { TokenSealer } from './token-encryption';

export type MsalClientFactory = (homeAccountId?: string) => ConfidentialClientApplication;

/**
 * A ConfidentialClientApplication per request, bound to one user's cache partition:
 * TokenCache.deserialize merges, so a shared client would mix users (FINDINGS). With the
 * discovery document inlined, building one costs no network round trip.
 */
export function msalClientFactory(idp: IdentityProvider, outbound: Outbound, tokens: Store<string>, tombstones: Tombstones, sealer: TokenSealer, tokenTtlMs: number): MsalClientFactory {
  return (homeAccountId) =>
    new ConfidentialClientApplication({
      auth: {
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        authority: idp.authority,
        knownAuthorities: idp.knownAuthorities,
        authorityMetadata: idp.metadataJson,
      },
      system: {
        protocolMode: idp.protocolMode,
        networkClient: outbound.msalNetwork,
        loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} },
      },
      cache: { cachePlugin: userCachePlugin(tokens, tombstones, sealer, tokenTtlMs, homeAccountId) },
    });
}
