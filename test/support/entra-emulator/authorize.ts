import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { opaque, type AppRegistration, type BrowserSession, type Directory } from './directory';
import { EntraError, errorPage, escapeHtml, invalidRequest, page, readForm, single } from './http';

/** Entra's session cookie; its own name, so it never collides with an app's cookie on localhost. */
export const SESSION_COOKIE = 'ESTSAUTH';
const CODE_LIFETIME_MS = 10 * 60_000;

/**
 * GET /{tenant}/oauth2/v2.0/authorize: authorization code flow. Client and redirect URI problems
 * are shown on the emulator's page (never redirected to an unchecked URI), the rest go back to
 * the app as error parameters. With an emulator session the sign-in is silent (SSO).
 */
export function authorize(dir: Directory) {
  return async function authorizeRequest(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    const params = new URLSearchParams(ctx.querystring);
    dir.authorizeRequests.push(params);
    let app: AppRegistration;
    let redirectUri: string;
    try {
      ({ app, redirectUri } = registeredClient(dir, ctx.params.tenant!, params));
    } catch (err) {
      if (err instanceof EntraError) return errorPage(ctx, err);
      throw err;
    }
    const state = single(params, 'state');
    const fail = (error: string, aadsts: number, description: string) => redirectWith(ctx, redirectUri, { error, error_description: `AADSTS${aadsts}: ${description}`, state });

    if (single(params, 'response_type') !== 'code') return fail('unsupported_response_type', 9002313, 'The emulator supports response_type=code only.');
    const responseMode = single(params, 'response_mode') ?? 'query';
    if (responseMode !== 'query') return fail('invalid_request', 9002313, 'The emulator supports response_mode=query only.');
    const challenge = single(params, 'code_challenge');
    const method = single(params, 'code_challenge_method') ?? (challenge ? 'plain' : undefined);
    if (method && (!challenge || !['S256', 'plain'].includes(method))) return fail('invalid_request', 9002313, 'Invalid code_challenge or code_challenge_method.');
    if (requestedAuthContexts(params.get('claims') ?? undefined) === undefined) return fail('invalid_request', 90014, "The claims parameter is not a valid JSON object.");

    const session = currentSession(ctx, dir);
    const prompt = single(params, 'prompt');
    if (session && prompt !== 'login') return issueCode(ctx, dir, app, redirectUri, params, session);
    if (prompt === 'none') return fail('login_required', 50058, 'A silent sign-in request was sent but no user is signed in.');

    const pending = opaque(24);
    dir.pendingLogins.set(pending, params);
    ctx.type = 'html';
    ctx.body = loginPage(ctx.params.tenant!, pending, single(params, 'login_hint') ?? '');
  };
}

/** POST /{tenant}/login: the login form; on success a new emulator session, then the code. */
export function login(dir: Directory) {
  return async function submitLogin(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    const form = await readForm(ctx);
    const pendingId = form.get('ctx') ?? '';
    const params = dir.pendingLogins.get(pendingId);
    if (!params) return errorPage(ctx, invalidRequest(9002313, 'The sign-in took too long or was already completed. Start again from the application.'));
    const user = dir.checkCredentials(form.get('username') ?? '', form.get('password') ?? '');
    if (!user) {
      ctx.type = 'html';
      ctx.body = loginPage(ctx.params.tenant!, pendingId, form.get('username') ?? '', 'AADSTS50126: Error validating credentials due to invalid username or password.');
      return;
    }
    dir.pendingLogins.delete(pendingId);
    const { app, redirectUri } = registeredClient(dir, ctx.params.tenant!, params);
    const session = dir.startSession(user.oid, randomUUID());
    ctx.cookies.set(SESSION_COOKIE, session.cookie, { httpOnly: true, secure: true, sameSite: 'none', path: '/' });
    issueCode(ctx, dir, app, redirectUri, params, session);
  };
}

export function currentSession(ctx: Context, dir: Directory): BrowserSession | undefined {
  const cookie = ctx.cookies.get(SESSION_COOKIE);
  return cookie ? dir.sessions.get(cookie) : undefined;
}

function registeredClient(dir: Directory, tenant: string, params: URLSearchParams): { app: AppRegistration; redirectUri: string } {
  if (tenant !== dir.tenantId) throw new EntraError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found.`);
  const clientId = single(params, 'client_id');
  if (!clientId) throw invalidRequest(900144, "The request body must contain the following parameter: 'client_id'.");
  const app = dir.apps.get(clientId);
  if (!app) throw new EntraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
  const redirectUri = single(params, 'redirect_uri');
  // An exact match with a registered Web redirect URI.
  if (!redirectUri || !app.redirectUris.includes(redirectUri)) {
    throw invalidRequest(50011, `The redirect URI '${redirectUri ?? ''}' specified in the request does not match the redirect URIs configured for the application '${clientId}'.`);
  }
  return { app, redirectUri };
}

function issueCode(ctx: Context, dir: Directory, app: AppRegistration, redirectUri: string, params: URLSearchParams, session: BrowserSession) {
  session.clients.add(app.clientId);
  // No consent screen: signing in grants what the app asked for (extraScopesToConsent included).
  dir.consent(app.clientId, session.oid, (params.get('scope') ?? '').split(' ').filter(Boolean));
  const code = opaque(48);
  const challenge = params.get('code_challenge') ?? undefined;
  dir.codes.set(code, {
    clientId: app.clientId,
    redirectUri,
    scope: params.get('scope') ?? '',
    nonce: params.get('nonce') ?? undefined,
    codeChallenge: challenge,
    codeChallengeMethod: challenge ? (params.get('code_challenge_method') ?? 'plain') : undefined,
    oid: session.oid,
    sid: session.sid,
    expiresAt: Date.now() + CODE_LIFETIME_MS,
    redeemed: false,
    acrs: requestedAuthContexts(params.get('claims') ?? undefined) ?? [],
  });
  // Entra's query response carries the session id as session_state, the same value as `sid`.
  redirectWith(ctx, redirectUri, { code, state: params.get('state') ?? undefined, session_state: session.sid });
}

function redirectWith(ctx: Context, redirectUri: string, params: Record<string, string | undefined>) {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  ctx.redirect(url.toString());
}

function loginPage(tenant: string, pending: string, username: string, error?: string): string {
  return page(
    'Sign in to your account',
    `<h1>Sign in</h1><p>Entra ID emulator. Users: alice, bob (password: password).</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/${escapeHtml(tenant)}/login" autocomplete="off">
<input type="hidden" name="ctx" value="${escapeHtml(pending)}">
<label for="username">Email, phone, or Skype</label><input id="username" name="username" value="${escapeHtml(username)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>`,
  );
}

/**
 * The authentication contexts a claims request asks for in the access token
 * (`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, or `values`); undefined when
 * the claims parameter is not a JSON object. The emulator grants them at once (no MFA step).
 */
export function requestedAuthContexts(claims: string | undefined): string[] | undefined {
  if (claims === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const acrs = (parsed as { access_token?: { acrs?: { value?: unknown; values?: unknown } } }).access_token?.acrs;
  const values = [acrs?.value, ...(Array.isArray(acrs?.values) ? acrs.values : [])];
  return values.filter((v): v is string => typeof v === 'string');
}
