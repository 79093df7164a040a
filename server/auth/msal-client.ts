import { ConfidentialClientApplication, LogLevel, type NodeAuthOptions } from '@azure/msal-node';
import type { Outbound } from '../http/outbound';
import { signClientAssertion, type ClientCredential } from '../identity/client-credential';
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
        ...msalCredential(idp.credential, String(discovery.token_endpoint)),
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

/**
 * The credential as MSAL takes it (msal-node 7 NodeAuthOptions): a secret; a certificate
 * (`clientCertificate`: MSAL signs a PS256 assertion with `x5t#S256`, or RS256 with `x5t` for a
 * SHA-1 thumbprint, and sends `x5c` when given); or a private_key_jwt assertion from our callback,
 * which MSAL calls for each token request with the token endpoint (discovery's, if it names none).
 */
function msalCredential(credential: ClientCredential, tokenEndpoint: string): Pick<NodeAuthOptions, 'clientSecret' | 'clientCertificate' | 'clientAssertion'> {
  switch (credential.kind) {
    case 'client_secret_post':
      return { clientSecret: credential.secret };
    case 'certificate': {
      const { thumbprint, privateKeyPem: privateKey, certificatePem: x5c } = credential;
      return { clientCertificate: thumbprint.alg === 'sha256' ? { thumbprintSha256: thumbprint.hex, privateKey, x5c } : { thumbprint: thumbprint.hex, privateKey, x5c } };
    }
    case 'private_key_jwt':
      return { clientAssertion: ({ clientId, tokenEndpoint: audience }) => signClientAssertion(credential, clientId, audience ?? tokenEndpoint) };
  }
}
