import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { readForm } from '../http/body';
import { escapeHtml, page } from './provider';
import { checkCredentials } from './users';

const INTERACTION = /^\/interaction\/([\w-]+)(\/login)?$/;

/** The dev IdP's login page: a plain HTML form checked against the seeded users. */
export function interactions(provider: Provider) {
  return async function loginInteraction(ctx: Context, next: Next) {
    const match = INTERACTION.exec(ctx.path);
    if (!match) return next();
    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (match[2] && ctx.method === 'POST') {
      const form = await readForm(ctx);
      const user = checkCredentials(form.get('username') ?? '', form.get('password') ?? '');
      if (!user) {
        ctx.status = 401;
        ctx.type = 'html';
        ctx.body = loginPage(details.uid, form.get('username') ?? '', 'Wrong username or password.');
        return;
      }
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
      ctx.respond = false;
      return;
    }
    if (ctx.method !== 'GET') {
      ctx.status = 405;
      return;
    }
    if (details.prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = loginPage(details.uid, String(details.params.login_hint ?? ''));
      return;
    }
    // Consent for our own clients is implied: grant what they asked for, with no screen.
    const { accountId } = details.session ?? {};
    const clientId = String(details.params.client_id);
    const grant = (details.grantId && (await provider.Grant.find(details.grantId))) || new provider.Grant({ accountId, clientId });
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.respond = false;
  };
}

function loginPage(uid: string, username: string, error?: string): string {
  return page(
    'Sign in',
    `<h1>Sign in</h1><p>Development identity provider. Users: alice, bob (password: password).</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" value="${escapeHtml(username)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>`,
  );
}
