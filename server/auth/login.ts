import { randomBytes } from 'node:crypto';
import { CryptoProvider } from '@azure/msal-node';
import type { Context } from 'koa';
import { badRequest } from '../errors';
import type { Services } from '../services';
import { callbackUrl, claimsParameter, fitReturnTo, loginScopes, MAX_LOGIN_QUERY, scopeParameter } from './sign-in-request';
import type { PendingLogins } from './pending-logins';
import { safeReturnTo } from './return-to';

const crypto = new CryptoProvider();


/**
 * GET /auth/login?returnTo=/path[&claims=...][&scope=...]: starts authorization code + PKCE. State, nonce,
 * the PKCE verifier and any claims request travel sealed in a per-sign-in cookie
 * (pending-logins.ts): an anonymous request stores nothing on the server. `claims` (a claims
 * challenge from the API, passed on by signInPath) goes to the IdP's authorize request and,
 * through the pending sign-in, to the code redemption. `scope` (a named API's scopes, passed on
 * by signInPath for incremental consent; scopeParameter refuses any other) is what the code is
 * redeemed for; the default API's scopes are asked for alongside, for consent only (MSAL's
 * extraScopesToConsent), so the new refresh token still serves the default API at IdPs whose
 * refresh tokens carry the scopes of their sign-in (oidc-provider).
 */
export function login(services: Services, pendingLogins: PendingLogins) {
  const { config, msal } = services;
  return async function startLogin(ctx: Context) {
    if (ctx.querystring.length > MAX_LOGIN_QUERY) throw badRequest('bad_request', 'The query string is too long.');
    const claims = claimsParameter(ctx.query.claims);
    const scopes = scopeParameter(ctx.query.scope, [config.api, ...config.api.named]);
    const extra = scopes && !scopes.every((s) => config.api.scopes.includes(s)) ? scopes : undefined;
    const returnTo = fitReturnTo(safeReturnTo(ctx.query.returnTo), claims);
    const { verifier, challenge } = await crypto.generatePkceCodes();
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(32).toString('base64url');
    const url = await msal().getAuthCodeUrl({
      scopes: loginScopes(extra ?? config.api.scopes),
      ...(extra ? { extraScopesToConsent: config.api.scopes } : {}),
      redirectUri: callbackUrl(config.publicUrl),
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      state,
      nonce,
      responseMode: 'query',
      ...(claims ? { claims } : {}),
    });
    pendingLogins.save(ctx, { state, nonce, verifier, returnTo, createdAt: Date.now(), ...(claims ? { claims } : {}), ...(extra ? { scopes: extra } : {}) });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url);
  };
}
