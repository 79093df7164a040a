import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { escapeHtml, page } from './provider';

const ENDED = Symbol('ended authorizations');

/**
 * Front-Channel Logout 1.0, which oidc-provider no longer implements: after the IdP session
 * ends, the logout page loads each signed-in client's frontchannel_logout_uri (with iss and
 * sid) in hidden iframes, then goes on to the post_logout_redirect_uri.
 */
export function frontchannelLogoutPage(provider: Provider, issuer: string) {
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    const authorizations = ctx.oidc.session?.authorizations ?? {};
    (ctx as unknown as Record<symbol, unknown>)[ENDED] = Object.entries(authorizations).map(([clientId, a]) => ({ clientId, sid: a.sid }));
  });

  return async function renderFrontchannelIframes(ctx: Context, next: Next) {
    await next();
    const ended = (ctx as unknown as Record<symbol, { clientId: string; sid?: string }[] | undefined>)[ENDED];
    const location = ctx.response.get('location');
    if (!ended || ctx.status !== 303 || !location) return;
    const frames: string[] = [];
    for (const { clientId, sid } of ended) {
      const client = await provider.Client.find(clientId);
      const uri = client?.metadata().frontchannel_logout_uri;
      if (typeof uri !== 'string' || !sid) continue;
      const url = new URL(uri);
      url.searchParams.set('iss', issuer);
      url.searchParams.set('sid', sid);
      frames.push(url.toString());
    }
    if (frames.length === 0) return;
    ctx.status = 200;
    ctx.remove('location');
    ctx.type = 'html';
    // The next page loads once every iframe has loaded, or after 5 s at the latest.
    ctx.body = page(
      'Signing out',
      `<h1>Signing out…</h1><p>Signing you out of every app.</p>
<meta http-equiv="refresh" content="5;url=${escapeHtml(location)}">
${frames.map((f) => `<iframe class="frontchannel-logout" title="sign-out" src="${escapeHtml(f)}" style="display:none" width="0" height="0"></iframe>`).join('\n')}
<a id="continue" href="${escapeHtml(location)}">Continue</a>
<script>(function(){var left=${frames.length};function go(){if(--left<=0)location.replace(document.getElementById('continue').href)}document.querySelectorAll('iframe.frontchannel-logout').forEach(function(f){f.addEventListener('load',go);f.addEventListener('error',go)})})()</script>`,
    );
  };
}
