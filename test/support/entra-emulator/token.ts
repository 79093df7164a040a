import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { GRAPH_APP_ID_URI, OIDC_SCOPES, opaque, type AppRegistration, type Directory, type EntraUser } from './directory';
import { decodeJwt } from 'jose';
import { JWT_BEARER, verifyClientAssertion } from './client-assertion';
import { EntraError, invalidGrant, invalidRequest, readForm, single } from './http';
import { clientInfo, type Resource, type TokenIssuer } from './tokens';

/** Microsoft Graph: the resource Entra picks when a request names no other. */
export const GRAPH = { appIdUri: GRAPH_APP_ID_URI, aud: '00000003-0000-0000-c000-000000000000' };

/**
 * POST /{tenant}/oauth2/v2.0/token: the authorization_code and refresh_token grants of a
 * confidential client (client_secret_post, Basic, or a certificate's client assertion). Errors
 * come as Entra renders them.
 */
export function token(dir: Directory, tokens: TokenIssuer) {
  return async function tokenRequest(ctx: Context) {
    ctx.set('Cache-Control', 'no-store, no-cache');
    ctx.set('Pragma', 'no-cache');
    try {
      if (ctx.params.tenant !== dir.tenantId) throw new EntraError(400, 'invalid_request', 90002, `Tenant '${ctx.params.tenant}' not found.`);
      const form = await readForm(ctx);
      dir.tokenRequests.push({ grantType: form.get('grant_type') ?? undefined, claims: form.get('claims') ?? undefined });
      const app = await authenticateClient(dir, tokens, ctx, form);
      const grantType = single(form, 'grant_type');
      if (grantType === 'authorization_code') ctx.body = await redeemCode(dir, tokens, app, form);
      else if (grantType === 'refresh_token') ctx.body = await redeemRefreshToken(dir, tokens, app, form);
      else if (!grantType) throw invalidRequest(900144, "The request body must contain the following parameter: 'grant_type'.");
      else throw new EntraError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
    } catch (err) {
      if (!(err instanceof EntraError)) throw err;
      ctx.status = err.status;
      ctx.body = err.body();
    }
  };
}

/**
 * A client secret (client_secret_post or Basic) or a certificate's client assertion (RFC 7523),
 * each only for an app that has that kind of credential registered.
 */
async function authenticateClient(dir: Directory, tokens: TokenIssuer, ctx: Context, form: URLSearchParams): Promise<AppRegistration> {
  let clientId = single(form, 'client_id');
  let secret = single(form, 'client_secret');
  const assertion = single(form, 'client_assertion');
  if (assertion !== undefined) {
    if (secret !== undefined || ctx.get('authorization')) throw invalidRequest(9002313, 'Invalid request. Request is malformed or invalid.');
    if (single(form, 'client_assertion_type') !== JWT_BEARER) {
      throw invalidRequest(900144, "The request body must contain the following parameter: 'client_assertion_type'.");
    }
    let app: AppRegistration | undefined;
    try {
      app = dir.apps.get(clientId ?? String(decodeJwt(assertion).iss));
    } catch {
      throw new EntraError(401, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
    }
    if (!app) throw new EntraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId ?? ''}' was not found in the directory.`);
    if (!app.certificate) {
      throw new EntraError(401, 'invalid_client', 700027, `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - No certificates are configured for app Id '${app.clientId}'.]`);
    }
    const tokenEndpoint = tokens.issuer.replace(/\/v2\.0$/, '/oauth2/v2.0/token');
    dir.clientAssertions.push(await verifyClientAssertion(assertion, { clientId: app.clientId, certificate: app.certificate }, tokenEndpoint, dir.assertionJtis));
    return app;
  }
  const basic = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(ctx.get('authorization'))?.[1];
  if (basic) {
    const [id, pass] = Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent);
    clientId ??= id;
    secret ??= pass;
  }
  if (!clientId) throw invalidRequest(900144, "The request body must contain the following parameter: 'client_id'.");
  const app = dir.apps.get(clientId);
  if (!app) throw new EntraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
  if (!secret) throw new EntraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  const given = Buffer.from(secret);
  // An app with a certificate and no secret has no secret to match.
  const expected = Buffer.from(app.clientSecret ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new EntraError(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
  }
  return app;
}

async function redeemCode(dir: Directory, tokens: TokenIssuer, app: AppRegistration, form: URLSearchParams) {
  const code = single(form, 'code');
  if (!code) throw invalidRequest(900144, "The request body must contain the following parameter: 'code'.");
  const issued = dir.codes.get(code);
  if (!issued || issued.clientId !== app.clientId) throw invalidGrant(70000, 'Provided grant is invalid or malformed.');
  if (issued.redeemed) throw invalidGrant(54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
  issued.redeemed = true;
  if (Date.now() > issued.expiresAt) throw invalidGrant(70008, 'The provided authorization code or refresh token has expired due to inactivity.');
  const redirectUri = single(form, 'redirect_uri');
  if (redirectUri !== issued.redirectUri) {
    throw invalidGrant(500112, `The reply address '${redirectUri ?? ''}' does not match the reply address '${issued.redirectUri}' provided when requesting Authorization code.`);
  }
  if (issued.codeChallenge) {
    const verifier = single(form, 'code_verifier') ?? '';
    const derived = issued.codeChallengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
    if (!verifier || derived !== issued.codeChallenge) {
      throw invalidGrant(501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.');
    }
  }
  const user = dir.userByOid(issued.oid)!;
  return tokenResponse(dir, tokens, app, user, issued.sid, single(form, 'scope') ?? issued.scope, form, issued.acrs, issued.nonce);
}

/** Refresh tokens are never revoked at sign-out (Entra has no revocation): only expiry ends them. */
async function redeemRefreshToken(dir: Directory, tokens: TokenIssuer, app: AppRegistration, form: URLSearchParams) {
  const refreshToken = single(form, 'refresh_token');
  if (!refreshToken) throw invalidRequest(900144, "The request body must contain the following parameter: 'refresh_token'.");
  const grant = dir.refreshTokens.get(refreshToken);
  if (!grant) throw invalidGrant(9002313, 'Invalid request. Request is malformed or invalid.');
  if (grant.clientId !== app.clientId) throw invalidGrant(70000, 'Provided grant is invalid or malformed.');
  const user = dir.userByOid(grant.oid)!;
  return tokenResponse(dir, tokens, app, user, grant.sid, single(form, 'scope') ?? '', form, grant.acrs);
}

async function tokenResponse(dir: Directory, tokens: TokenIssuer, app: AppRegistration, user: EntraUser, sid: string, scope: string, form: URLSearchParams, acrs: string[], nonce?: string) {
  const requested = new Set(scope.split(' ').filter(Boolean));
  const resource = resourceFor(dir, requested);
  // Incremental consent: a token for scopes the user never agreed to needs a sign-in that asks for them.
  if (dir.unconsented(app.clientId, user.oid, requested).length > 0) {
    throw new EntraError(400, 'invalid_grant', 65001, `The user or administrator has not consented to use the application with ID '${app.clientId}'. Send an interactive authorization request for this user and resource.`, 'consent_required');
  }
  let refreshToken: string | undefined;
  if (requested.has('offline_access')) {
    refreshToken = opaque(96);
    dir.refreshTokens.set(refreshToken, { clientId: app.clientId, oid: user.oid, sid, acrs });
  }
  return {
    token_type: 'Bearer',
    scope: resource.scope,
    expires_in: tokens.expiresIn,
    ext_expires_in: tokens.expiresIn,
    access_token: await tokens.accessToken(user, app.clientId, resource, acrs),
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    ...(requested.has('openid') ? { id_token: await tokens.idToken(user, app.clientId, sid, nonce) } : {}),
    ...(form.get('client_info') === '1' ? { client_info: clientInfo(user.oid, dir.tenantId) } : {}),
  };
}

/**
 * One access token is for one resource: `<Application ID URI>/<scope>` names it; bare names
 * (User.Read) are Microsoft Graph's, and so is a request with OIDC scopes only.
 */
function resourceFor(dir: Directory, requested: Set<string>): Resource {
  const byResource = new Map<string, string[]>();
  for (const s of requested) {
    if (OIDC_SCOPES.has(s)) continue;
    const cut = s.lastIndexOf('/');
    const [appIdUri, name] = cut > 0 ? [s.slice(0, cut), s.slice(cut + 1)] : [GRAPH.appIdUri, s];
    byResource.set(appIdUri, [...(byResource.get(appIdUri) ?? []), name]);
  }
  if (byResource.size > 1) {
    throw new EntraError(400, 'invalid_scope', 28000, 'Provided value for the input parameter scope is not valid because it contains more than one resource.');
  }
  const [appIdUri, names] = [...byResource][0] ?? [GRAPH.appIdUri, ['User.Read']];
  if (appIdUri === GRAPH.appIdUri) {
    const scp = [...names, ...[...requested].filter((s) => OIDC_SCOPES.has(s) && s !== 'offline_access')].join(' ');
    return { aud: GRAPH.aud, scp, scope: scp };
  }
  const api = dir.apis.find((a) => a.appIdUri === appIdUri);
  const granted = names.includes('.default') ? (api?.scopes ?? []) : names;
  if (!api || granted.some((n) => !api.scopes.includes(n))) {
    throw new EntraError(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope '${[...requested].join(' ')}' does not exist.`);
  }
  return { aud: appIdUri, scp: granted.join(' '), scope: granted.map((n) => `${appIdUri}/${n}`).join(' ') };
}
