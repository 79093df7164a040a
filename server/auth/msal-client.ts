import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import type { Outbound } from '../http/outbound';
import type { IdentityProvider } from '../identity/provider';
import { userCachePlugin, type SignOutGuard, type TokenCacheClientOptions, type TokenCacheRead } from './token-cache';

/** What one MSAL client is for: the user's cache partition, and how its writes are guarded. */
export interface MsalClientRequest {
  homeAccountId?: string;
  /** A read of the user's entry already under way (the API route starts it with the session check). */
  pending?: TokenCacheRead;
  /** Required for any call that writes tokens (a redemption, a refresh); see SignOutGuard. */
  guard?: SignOutGuard;
}

export type MsalClientFactory = (request?: MsalClientRequest) => ConfidentialClientApplication;

/** The discovery fields MSAL reads from authorityMetadata (msal-common's OpenIdConfigResponse). */
const MSAL_METADATA_FIELDS = ['issuer', 'authorization_endpoint', 'token_endpoint', 'end_session_endpoint', 'jwks_uri'];

/**
 * A ConfidentialClientApplication per request, bound to one user's cache partition:
 * TokenCache.deserialize merges, so a shared client would mix users (FINDINGS). With the
 * discovery document inlined, building one costs no network round trip; MSAL parses that JSON
 * on every token call, so it gets only the fields it reads.
 */
export function msalClientFactory(idp: IdentityProvider, outbound: Outbound, cache: Omit<TokenCacheClientOptions, 'guard' | 'pending'>): MsalClientFactory {
  const discovery = JSON.parse(idp.metadataJson) as Record<string, unknown>;
  const authorityMetadata = JSON.stringify(Object.fromEntries(MSAL_METADATA_FIELDS.filter((f) => Object.hasOwn(discovery, f)).map((f) => [f, discovery[f]])));
  return ({ homeAccountId, pending, guard } = {}) =>
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
      cache: { cachePlugin: userCachePlugin({ ...cache, pending, guard }, homeAccountId) },
    });
}
