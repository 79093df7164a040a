import { createPrivateKey, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import { SignJWT, type JWTHeaderParameters } from 'jose';
import type { CertificateCredential, ClientCredential, PrivateKeyJwtCredential } from './client-keys';
import type { IdentityProvider } from './provider';

export type { ClientCredential } from './client-keys';

/** RFC 7523 §2.2: the client_assertion_type of a JWT client assertion. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** How long an assertion of ours is good for: one request's worth, so a leaked one is soon useless. */
export const CLIENT_ASSERTION_LIFETIME_SECONDS = 60;

/**
 * How the BFF authenticates itself as a confidential client at the IdP's endpoints other than
 * the token endpoint MSAL calls (RFC 7009 revocation, for one). The same credential MSAL uses.
 */
export interface ClientAuthentication {
  /** Form fields for a POST to `endpoint` (application/x-www-form-urlencoded). */
  fields: Record<string, string>;
  /** Extra request headers (none for the kinds supported so far). */
  headers: Record<string, string>;
}

/**
 * The client authentication for a request to `endpoint` (an absolute URL of the IdP):
 * - client_secret_post (OIDC Core §9): `client_id` and `client_secret` in the form, as MSAL
 *   sends them to the token endpoint;
 * - private_key_jwt and certificate (RFC 7523 §2.2, §3): `client_id`, `client_assertion_type`
 *   and a fresh `client_assertion` whose `aud` is `endpoint` (oidc-provider accepts the endpoint
 *   called, its issuer or its token endpoint; Entra has only a token endpoint to call).
 */
export async function clientAuthentication(idp: Pick<IdentityProvider, 'clientId' | 'credential'>, endpoint: string): Promise<ClientAuthentication> {
  const { credential, clientId } = idp;
  if (credential.kind === 'client_secret_post') {
    return { fields: { client_id: clientId, client_secret: credential.secret }, headers: {} };
  }
  return {
    fields: { client_id: clientId, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await signClientAssertion(credential, clientId, endpoint) },
    headers: {},
  };
}

const privateKeys = new WeakMap<ClientCredential, KeyObject>();

function privateKeyOf(credential: CertificateCredential | PrivateKeyJwtCredential): KeyObject {
  let key = privateKeys.get(credential);
  if (!key) {
    key = createPrivateKey(credential.privateKeyPem);
    privateKeys.set(credential, key);
  }
  return key;
}

/** The certificate chain as x5c wants it: base64 DER, leaf first (RFC 7515 §4.1.6). */
function x5cOf(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]).raw.toString('base64'));
}

/**
 * A client assertion (RFC 7523 §3; OIDC Core §9 private_key_jwt): iss = sub = the client id,
 * aud = `audience`, a fresh `jti`, `iat`, and `exp` CLIENT_ASSERTION_LIFETIME_SECONDS later.
 * private_key_jwt names its key by `kid` (published in our JWKS); a certificate by its
 * thumbprint (`x5t#S256` with PS256, or `x5t` with RS256) and its chain (`x5c`), as MSAL does.
 */
export async function signClientAssertion(credential: CertificateCredential | PrivateKeyJwtCredential, clientId: string, audience: string): Promise<string> {
  let header: JWTHeaderParameters;
  if (credential.kind === 'private_key_jwt') {
    header = { alg: credential.alg, kid: credential.kid, typ: 'JWT' };
  } else {
    const thumbprint = Buffer.from(credential.thumbprint.hex, 'hex').toString('base64url');
    header = credential.thumbprint.alg === 'sha256' ? { alg: 'PS256', 'x5t#S256': thumbprint, typ: 'JWT' } : { alg: 'RS256', x5t: thumbprint, typ: 'JWT' };
    if (credential.certificatePem) header.x5c = x5cOf(credential.certificatePem);
  }
  return new SignJWT({})
    .setProtectedHeader(header)
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(`${CLIENT_ASSERTION_LIFETIME_SECONDS}s`)
    .sign(privateKeyOf(credential));
}
