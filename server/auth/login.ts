import { randomBytes } from 'node:crypto';
import { CryptoProvider } from '@azure/msal-node';
import type { Context } from 'koa';
import { badRequest } from '../errors';
import { beginSession, sessionOf } from '../session/middleware';
import type { Services } from '../services';
import { safeReturnTo } from './return-to';

const MAX_PENDING_LOGINS = 5;
const crypto = new CryptoProvider();

export const callbackUrl = (publicUrl: string) => `${publicUrl}/auth/callback`;

/** Every sign-in asks for these: MSAL adds openid, profile and offline_access itself. */
export const loginScopes = (apiScopes: readonly string[]) => ['email', ...apiScopes];

/**
 * GET /auth/login?returnTo=/path: starts authorization code + PKCE. State, nonce and the PKCE
 * verifier stay in the server-side pre-login session; the browser only carries the session id.
 */
export function login(services: Services) {
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

    const session = sessionOf(ctx)!;
    if (session.createdAt === undefined) beginSession(session);
    // Several tabs may sign in at once: keep the newest few pending logins, drop stale ones.
    const now = Date.now();
    const pending = Object.entries(session.logins ?? {})
      .filter(([, p]) => now - p.createdAt < config.loginTimeoutMs)
      .sort(([, a], [, b]) => b.createdAt - a.createdAt)
      .slice(0, MAX_PENDING_LOGINS - 1);
    session.logins = Object.fromEntries([...pending, [state, { nonce, verifier, returnTo, createdAt: now }]]);

    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url);
  };
}
