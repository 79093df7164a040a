import { randomBytes } from 'node:crypto';
import { CryptoProvider } from '@azure/msal-node';
import type { Context } from 'koa';
import { badRequest } from '../errors';
import type { Services } from '../services';
import type { PendingLogins } from './pending-logins';
import { safeReturnTo } from './return-to';

const crypto = new CryptoProvider();

export const callbackUrl = (publicUrl: string) => `${publicUrl}/auth/callback`;

/** Every sign-in asks for these: MSAL adds openid, profile and offline_access itself. */
export const loginScopes = (apiScopes: readonly string[]) => ['email', ...apiScopes];

/**
 * GET /auth/login?returnTo=/path: starts authorization code + PKCE. State, nonce and the PKCE
 * verifier travel sealed in a per-sign-in cookie (pending-logins.ts): an anonymous request
 * stores nothing on the server.
 */
export function login(services: Services, pendingLogins: PendingLogins) {
  const { config, msal } = services;
  return async function startLogin(ctx: Context) {
    if (ctx.querystring.length > 4096) throw badRequest('bad_request', 'The query string is too long.');
    const returnTo = safeReturnTo(ctx.query.returnTo);
    const { verifier, challenge } = await crypto.generatePkceCodes();
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(32).toString('base64url');
    const url = await msal().getAuthCodeUrl({
      scopes: loginScopes(config.api.scopes),
      redirectUri: callbackUrl(config.publicUrl),
      codeChallenge: challenge,
      codeChallengeMethod: 'S256',
      state,
      nonce,
      responseMode: 'query',
    });
    pendingLogins.save(ctx, { state, nonce, verifier, returnTo, createdAt: Date.now() });
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url);
  };
}
