import type { IdentityProvider } from './provider';

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
 * The client authentication for a request to `endpoint` (an absolute URL of the IdP).
 * client_secret_post (OIDC Core §9): `client_id` and `client_secret` in the form, as MSAL sends
 * them to the token endpoint.
 */
export async function clientAuthentication(idp: Pick<IdentityProvider, 'clientId' | 'clientSecret'>, endpoint: string): Promise<ClientAuthentication> {
  void endpoint; // an assertion (private_key_jwt, a certificate) will name it as its audience
  return { fields: { client_id: idp.clientId, client_secret: idp.clientSecret }, headers: {} };
}
