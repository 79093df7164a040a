import { ProtocolMode } from '@azure/msal-node';
import type { Config } from '../config';
import type { Outbound } from '../http/outbound';
import type { ClientCredential } from './client-keys';

/**
 * Everything the BFF needs to know about its identity provider, resolved once at start-up:
 * one discovery request here saves one per MSAL client instance (authorityMetadata).
 */
export interface IdentityProvider {
  kind: 'dev' | 'oidc' | 'entra';
  /** The `iss` of ID tokens and logout tokens. */
  issuer: string;
  authority: string;
  protocolMode: ProtocolMode;
  knownAuthorities: string[];
  clientId: string;
  /** How the BFF authenticates at the IdP: exactly one kind (client-keys.ts). */
  credential: ClientCredential;
  /** The discovery document as JSON text, for MSAL's authorityMetadata. */
  metadataJson: string;
  endSessionEndpoint?: string;
  /** RFC 7009 §2 / RFC 8414 §2: where refresh tokens are revoked at sign-out; Entra publishes none. */
  revocationEndpoint?: string;
  jwksUri: string;
  /** id_token_signing_alg_values_supported, the algorithms logout tokens may use. */
  signingAlgorithms?: string[];
  /** The IdP's origin: the only one allowed to frame the front-channel logout page. */
  origin: string;
  /**
   * The authorization response's `session_state` is the ID token's `sid` (Entra), so it stands in
   * when the ID token has none (tenants that never added the optional claim). Elsewhere
   * `session_state` is OIDC Session Management's opaque value, never a `sid`.
   */
  sidFromSessionState: boolean;
  /**
   * How the end-session request names the user: `id_token_hint` (OIDC RP-Initiated Logout §2;
   * Glewlwyd acts on end_session only with it), or Entra's `logout_hint` (the ID token's
   * `login_hint` claim), which skips its account picker.
   */
  endSessionHint: 'id_token_hint' | 'logout_hint';
  /**
   * MSAL's tenant for this authority: its first path segment, lower-cased (`api` for
   * https://host/api/oidc). MSAL files access tokens under it when the ID token has no `tid`.
   */
  authorityTenant: string;
  /** The IdP promises `iss` in every authorization response (RFC 9207 §3): one without it is refused. */
  issInAuthorizationResponse: boolean;
}

export interface IdentityEndpoint {
  kind: IdentityProvider['kind'];
  authority: string;
  clientId: string;
  credential: ClientCredential;
}

/** Where the configured provider lives; the embedded dev IdP reports its own endpoint. */
export function identityEndpoint(config: Config, devIdp?: { issuer: string; clientId: string; credential: ClientCredential }): IdentityEndpoint {
  const id = config.identity;
  switch (id.kind) {
    case 'entra':
      return { kind: 'entra', authority: `${id.cloudInstance}/${id.tenantId}`, clientId: id.clientId, credential: id.credential };
    case 'oidc':
      return { kind: 'oidc', authority: id.authority, clientId: id.clientId, credential: id.credential };
    case 'dev':
      if (!devIdp) throw new Error('the embedded dev IdP is not running');
      return { kind: 'dev', authority: devIdp.issuer, clientId: devIdp.clientId, credential: devIdp.credential };
  }
}

export async function discoverIdentityProvider(endpoint: IdentityEndpoint, outbound: Outbound): Promise<IdentityProvider> {
  // Entra's v2.0 metadata lives under /v2.0; a generic provider's under its issuer (RFC 8414 style).
  const discoveryUrl =
    endpoint.kind === 'entra'
      ? `${endpoint.authority}/v2.0/.well-known/openid-configuration`
      : `${endpoint.authority}/.well-known/openid-configuration`;
  let metadata: Record<string, unknown>;
  try {
    const res = await outbound.request(discoveryUrl, { timeoutMs: 10_000 });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    metadata = JSON.parse(res.body);
  } catch (err) {
    throw new Error(`cannot read the identity provider's discovery document at ${discoveryUrl}: ${(err as Error).message}`, { cause: err });
  }
  for (const field of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    if (typeof metadata[field] !== 'string') throw new Error(`the discovery document at ${discoveryUrl} has no ${field}`);
  }
  const authorityUrl = new URL(endpoint.authority);
  return {
    kind: endpoint.kind,
    issuer: metadata.issuer as string,
    authority: endpoint.authority,
    protocolMode: endpoint.kind === 'entra' ? ProtocolMode.AAD : ProtocolMode.OIDC,
    // Entra mode too: the configured cloud host is trusted as is, so MSAL never asks
    // login.microsoftonline.com's instance discovery (offline, or a cloud it has no entry for).
    knownAuthorities: [authorityUrl.host],
    clientId: endpoint.clientId,
    credential: endpoint.credential,
    metadataJson: JSON.stringify(metadata),
    endSessionEndpoint: typeof metadata.end_session_endpoint === 'string' ? metadata.end_session_endpoint : undefined,
    revocationEndpoint: typeof metadata.revocation_endpoint === 'string' ? metadata.revocation_endpoint : undefined,
    jwksUri: metadata.jwks_uri as string,
    signingAlgorithms: Array.isArray(metadata.id_token_signing_alg_values_supported) ? (metadata.id_token_signing_alg_values_supported as string[]) : undefined,
    origin: new URL(metadata.authorization_endpoint as string).origin,
    sidFromSessionState: endpoint.kind === 'entra',
    endSessionHint: endpoint.kind === 'entra' ? 'logout_hint' : 'id_token_hint',
    issInAuthorizationResponse: metadata.authorization_response_iss_parameter_supported === true,
    authorityTenant: authorityUrl.pathname.split('/').find(Boolean)?.toLowerCase() ?? '',
  };
}
