import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import type { Outbound } from '../http/outbound';
import type { IdentityProvider } from '../identity/provider';
import type { Tombstones } from '../logout/tombstones';
import type { Store } from '../stores/store';
import { userCachePlugin, type TokenCacheRead } from './token-cache';
import type { TokenSealer } from './token-encryption';

export type MsalClientFactory = (homeAccountId?: string, pending?: TokenCacheRead) => ConfidentialClientApplication;

/** The discovery fields MSAL reads from authorityMetadata (msal-common's OpenIdConfigResponse). */
const MSAL_METADATA_FIELDS = ['issuer', 'authorization_endpoint', 'token_endpoint', 'end_session_endpoint', 'jwks_uri'];

/**
 * A ConfidentialClientApplication per request, bound to one user's cache partition:
 * TokenCache.deserialize merges, so a shared client would mix users (FINDINGS). With the
 * discovery document inlined, building one costs no network round trip; MSAL parses that JSON
 * on every token call, so it gets only the fields it reads.
 */
export function msalClientFactory(idp: IdentityProvider, outbound: Outbound, tokens: Store<string>, tombstones: Tombstones, sealer: TokenSealer, tokenTtlMs: number): MsalClientFactory {
  const discovery = JSON.parse(idp.metadataJson) as Record<string, unknown>;
  const authorityMetadata = JSON.stringify(Object.fromEntries(MSAL_METADATA_FIELDS.filter((f) => f in discovery).map((f) => [f, discovery[f]])));
  return (homeAccountId, pending) =>
    new ConfidentialClientApplication({
      auth: {
        clientId: idp.clientId,
        clientSecret: idp.clientSecret,
        authority: idp.authority,
        knownAuthorities: idp.knownAuthorities,
        authorityMetadata,
      },
      system: {
        protocolMode: idp.protocolMode,
        networkClient: outbound.msalNetwork,
        loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => {} },
      },
      cache: { cachePlugin: userCachePlugin(tokens, tombstones, sealer, tokenTtlMs, homeAccountId, pending) },
    });
}
