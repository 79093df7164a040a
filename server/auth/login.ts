import { randomBytes } from 'node:crypto';
import { CryptoProvider } from '@azure/msal-node';
import type { Context } from 'koa';
import { badRequest } from '../errors';
import type { Services } from '../services';
import { callbackUrl, claimsParameter, fitReturnTo, loginScopes, MAX_LOGIN_QUERY, scopeParameter } from './sign-in-request';
import type { PendingLogins } from './pending-logins';
import { safeReturnTo } from './return-to';
import { SilentSignIn } from './silent-sign-in';

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
 * `prompt=none` (the only value taken; anything else is 400) is a silent sign-in (OIDC Core
 * §3.1.2.1, silent-sign-in.ts): once per browser, never after a sign-out here, and only when
 * SILENT_SIGN_IN is on; otherwise it goes straight back to returnTo, signed out, without the IdP.
 */
export function login(services: Services, pendingLogins: PendingLogins) {
  const { config, msal, log } = services;
  const silentSignIn = new SilentSignIn(config);
  return async function startLogin(ctx: Context) {
    if (ctx.querystring.length > MAX_LOGIN_QUERY) throw badRequest('bad_request', 'The query string is too long.');
    const claims = claimsParameter(ctx.query.claims);
    const scopes = scopeParameter(ctx.query.scope, [config.api, ...config.api.named]);
    const extra = scopes && !scopes.every((s) => config.api.scopes.includes(s)) ? scopes : undefined;
    const returnTo = fitReturnTo(safeReturnTo(ctx.query.returnTo), claims);
    const silent = promptParameter(ctx.query.prompt) === 'none';
    ctx.set('Cache-Control', 'no-store');
    if (silent && !silentSignIn.begin(ctx)) {
      log.info('auth.silent_signin', { requestId: ctx.state.requestId, outcome: 'not_tried' });
      ctx.redirect(`${config.publicUrl}${returnTo}`);
      return;
    }
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
      ...(silent ? { prompt: 'none' } : {}),
    });
    pendingLogins.save(ctx, { state, nonce, verifier, returnTo, createdAt: Date.now(), ...(claims ? { claims } : {}), ...(extra ? { scopes: extra } : {}), ...(silent ? { silent: true as const } : {}) });
    ctx.redirect(url);
  };
}

/** `prompt` on /auth/login: absent, or `none` (a silent sign-in); anything else is 400 bad_request. */
function promptParameter(raw: unknown): 'none' | undefined {
  if (raw === undefined) return undefined;
  if (raw !== 'none') throw badRequest('bad_request', 'The prompt parameter takes only the value none (a silent sign-in).');
  return 'none';
}
