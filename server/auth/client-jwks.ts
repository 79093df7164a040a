import type { Context } from 'koa';
import { HttpError } from '../errors';
import type { ClientCredential } from '../identity/client-keys';

/**
 * GET /.well-known/jwks.json: the public key of the BFF's private_key_jwt credential as a JWK Set
 * (RFC 7517 §5), so the IdP can verify our client assertions (OIDC Core §9; registered as the
 * client's `jwks_uri`, OIDC Dynamic Client Registration §2). Only kty, its public members, kid,
 * alg and use: the JWK is built from the public key alone (client-keys.ts). Any other credential
 * kind publishes nothing: 404 not_found.
 */
export function clientJwks(credential: ClientCredential) {
  const body = credential.kind === 'private_key_jwt' ? JSON.stringify({ keys: [credential.publicJwk] }) : undefined;
  return function serveClientJwks(ctx: Context) {
    if (body === undefined) throw new HttpError(404, 'not_found', 'Not found.');
    // Short enough that a new key (a restart with another OIDC_CLIENT_KEY_FILE) is seen soon.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/json';
    ctx.body = body;
  };
}
